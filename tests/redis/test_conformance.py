from __future__ import annotations

import pytest

from taskrunner.testing import BackendConformance
from taskrunner_redis import RedisBackend


class TestRedisBackend(BackendConformance):
    @pytest.fixture
    def backend(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend
