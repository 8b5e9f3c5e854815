"""The enqueue lane's short way (lane.py): once its connection is up, a call is packed by
hiredis and written and read on that connection without redis-py's `execute_command`; a
connection lost under it sends the call again the long way (stored once), Redis's errors
still raise, and a big command goes the long way."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from taskrunner import JobState
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.lane import SHORT_WAY_BYTES, Lane, pack
from tests.redis.conftest import REDIS_URL


def lane_of(backend: RedisBackend) -> Lane:
    scripts = backend._store.scripts
    assert scripts is not None and scripts.lane.held
    return scripts.lane


def count_long_way(lane: Lane) -> list[tuple[Any, ...]]:
    """The calls the lane's client runs through `execute_command` from now on."""
    own: Any = lane._own
    calls: list[tuple[Any, ...]] = []
    long_way = own.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        calls.append(args)
        return await long_way(*args, **options)

    own.execute_command = counted
    return calls


async def test_enqueues_after_the_first_take_the_short_way(redis_backend: RedisBackend) -> None:
    await redis_backend.enqueue([new_job()])  # connects the lane (the long way)
    calls = count_long_way(lane_of(redis_backend))
    jobs = [new_job() for _ in range(5)]
    for job in jobs:
        assert await redis_backend.enqueue([job]) == [job.id]
    assert calls == []
    got = await redis_backend.get([job.id for job in jobs])
    assert all(record is not None and record.state == "queued" for record in got)


async def test_a_connection_lost_under_a_call_sends_it_again_the_long_way(
    redis_backend: RedisBackend,
) -> None:
    await redis_backend.enqueue([new_job(queue="lost")])
    lane = lane_of(redis_backend)
    own: Any = lane._own
    conn: Connection = own.connection
    calls = count_long_way(lane)
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        lane_id = await lane.execute("CLIENT", "ID")
        assert await admin.client_kill_filter(_id=lane_id) == 1
        job = new_job(queue="lost")
        assert await redis_backend.enqueue([job]) == [job.id]
    finally:
        await admin.aclose()
    assert len(calls) == 1 and calls[0][0] == "FCALL"  # the short way failed, then this
    assert own.connection is conn and conn.is_connected  # connected afresh
    stats = await redis_backend.stats(["lost"])
    assert stats["lost"][JobState.QUEUED] == 2  # stored once
    (record,) = await redis_backend.get([job.id])
    assert record is not None and record.state == "queued"


async def test_a_retried_call_stores_its_job_once(redis_backend: RedisBackend) -> None:
    job = new_job(queue="again")
    assert await redis_backend.enqueue([job]) == [job.id]
    assert await redis_backend.enqueue([job]) == [job.id]  # the same call sent again
    assert (await redis_backend.stats(["again"]))["again"][JobState.QUEUED] == 1


async def test_redis_errors_raise_on_the_short_way_and_leave_it_usable(
    redis_backend: RedisBackend, redis_prefix: str
) -> None:
    await redis_backend.enqueue([new_job()])
    lane = lane_of(redis_backend)
    calls = count_long_way(lane)
    key = f"{redis_prefix}:a-hash"
    assert await lane.execute("HSET", key, "f", "v") == 1
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await lane.execute("GET", key)
    assert await lane.execute("HGET", key, "f") == b"v"
    assert calls == []


async def test_a_big_command_goes_the_long_way(redis_backend: RedisBackend) -> None:
    await redis_backend.enqueue([new_job()])
    calls = count_long_way(lane_of(redis_backend))
    big = new_job(payload=b'"' + b"x" * SHORT_WAY_BYTES + b'"')
    assert await redis_backend.enqueue([big]) == [big.id]
    assert len(calls) == 1
    (record,) = await redis_backend.get([big.id])
    assert record is not None and record.payload == big.payload


def test_hiredis_packs_as_redis_py_does() -> None:
    conn = Connection()
    args = ("FCALL", "f", "2", "k", b"\x00\xff bytes", "é text", 7, -3, 10**17, 1.5, 0.1)
    assert pack(conn, args) == b"".join(conn.pack_command(*args))
