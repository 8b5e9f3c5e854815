from __future__ import annotations

import pytest

from taskrunner.testing import BackendConformance, InspectionConformance
from taskrunner_redis import RedisBackend


class TestRedisBackend(BackendConformance, InspectionConformance):
    @pytest.fixture
    def backend(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend
