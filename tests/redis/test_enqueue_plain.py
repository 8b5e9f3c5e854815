"""A lone plain job (no key, batch, limit, rate or dependencies) is stored by
enqueue_plain.lua, the straight-line twin of store.lua's enqueue_jobs: what it writes is what
the long way writes for the same job (its hash, its indexes, its ready entry, its priority
level, a wake-up), and a replay stores nothing twice."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from taskrunner.backend import NewJob
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.records import is_plain
from tests.redis.conftest import REDIS_URL

TIMES = ("enqueued_at", "run_at")


async def stored(client: aioredis.Redis, prefix: str, job: NewJob) -> dict[str, Any]:
    """What the store holds of `job`: its hash (times apart), where it is listed, and the
    distance from its enqueue to its due time (microseconds)."""
    base = f"{prefix}:{{{job.queue}}}:"
    fields = dict(await client.hgetall(f"{base}job:{job.id}"))
    enqueued, run_at = (int(fields.pop(name)) for name in TIMES)
    ready = await client.zscore(f"{base}ready:{job.priority}", job.id)
    return {
        "fields": fields,
        "due_after": run_at - enqueued if job.at is None else run_at,
        "ready_score": None if ready is None else int(ready) == run_at,
        "all": await client.zscore(f"{base}ix:all", job.id),
        "waiting": await client.zscore(f"{base}ix:waiting", job.id),
        "level": await client.zscore(f"{base}prios", str(job.priority)),
    }


@pytest.mark.parametrize(
    "fields",
    [{}, {"priority": 5}, {"delay": 30.0}, {"at": 4_102_444_800.5}, {"max_attempts": 1}],
    ids=["now", "priority", "delayed", "at", "one-attempt"],
)
async def test_a_lone_plain_job_is_stored_as_the_long_way_stores_it(
    redis_backend: RedisBackend, fields: dict[str, Any]
) -> None:
    lone, twin, other = new_job(**fields), new_job(**fields), new_job()
    assert is_plain(lone)
    assert await redis_backend.enqueue([lone]) == [lone.id]  # enqueue_plain.lua
    assert await redis_backend.enqueue([twin, other]) == [twin.id, other.id]  # enqueue.lua
    async with client_of(redis_backend) as (client, prefix):
        assert await stored(client, prefix, lone) == await stored(client, prefix, twin)


async def test_a_due_job_wakes_a_worker_and_a_later_one_behind_it_does_not(
    redis_backend: RedisBackend,
) -> None:
    async with client_of(redis_backend) as (client, prefix):
        wake = f"{prefix}:{{default}}:wake"
        await redis_backend.enqueue([new_job()])
        assert await client.llen(wake) == 1
        await redis_backend.enqueue([new_job(delay=60.0)])  # after the queued one: no wake
        assert await client.llen(wake) == 1
        await client.delete(wake)
        (record,) = await redis_backend.claim(["default"], 1, "w", 30.0)
        await redis_backend.enqueue([new_job(delay=30.0)])  # sooner than the one waiting
        assert await client.llen(wake) == 1
        assert record.state == "running"


async def test_a_replayed_plain_enqueue_stores_nothing_twice(redis_backend: RedisBackend) -> None:
    job = new_job()
    assert await redis_backend.enqueue([job]) == [job.id]
    (record,) = await redis_backend.claim(["default"], 1, "w", 30.0)
    assert await redis_backend.enqueue([job]) == [job.id]  # the client lost the first reply
    (again,) = await redis_backend.get([job.id])
    assert again is not None and again.state == "running" and again.attempt == record.attempt
    async with client_of(redis_backend) as (client, prefix):
        assert await client.zcard(f"{prefix}:{{default}}:ix:all") == 1
        assert await client.zcard(f"{prefix}:{{default}}:ready:0") == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"key": "k"},
        {"batch_id": "b"},
        {"limit_key": "l", "limit_max": 1},
        {"rate_key": "r", "rate_max": 1, "rate_per": 1.0},
        {"after": ("j",)},
    ],
    ids=["key", "batch", "limit", "rate", "after"],
)
def test_a_job_with_more_goes_the_long_way(fields: dict[str, Any]) -> None:
    assert not is_plain(new_job(**fields))


@contextlib.asynccontextmanager
async def client_of(backend: RedisBackend) -> AsyncIterator[tuple[aioredis.Redis, str]]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        yield client, backend._store.prefix
    finally:
        await client.aclose()
