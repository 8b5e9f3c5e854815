"""The core's backend and inspection conformance suites, on Redis (in cluster mode too:
see `tests/redis/test_cluster.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from taskrunner.testing import BackendConformance, InspectionConformance
from taskrunner_redis import RedisBackend


class TestRedisBackend(BackendConformance, InspectionConformance):
    @pytest.fixture
    def backend(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend

    @pytest.fixture
    async def peer(self, redis_url: str) -> AsyncIterator[RedisBackend]:
        peer = RedisBackend(redis_url)
        await peer.connect()
        yield peer
        await peer.close()
