"""The per-second counts of attempts on Redis: one hash per minute, gone after the hour."""

from __future__ import annotations

import redis.asyncio as aioredis

from taskrunner.backend import Outcome, OutcomeKind
from taskrunner.backend.inspection import SECONDS_KEPT
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from tests.redis.conftest import REDIS_URL


async def test_each_minute_of_seconds_expires_after_the_hour(
    redis_backend: RedisBackend, redis_prefix: str
) -> None:
    await redis_backend.enqueue([new_job(queue="q")])
    (job,) = await redis_backend.claim(["q"], 1, "w", 30)
    await redis_backend.finish([Outcome(job.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{redis_prefix}:{{q}}:seconds:*")]
        assert len(keys) == 1
        assert 0 < await client.ttl(keys[0]) <= SECONDS_KEPT
    finally:
        await client.aclose()
