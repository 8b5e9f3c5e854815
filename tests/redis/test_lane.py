"""The enqueue lane (lane.py): enqueues go on one connection the backend holds, a call that
finds it in use takes a pool connection, a cancelled call leaves it usable, and a small pool
lends it none. And a lone job's short way lists its queue as the long way does."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.clients import open_client
from taskrunner_redis.lane import Lane
from taskrunner_redis.settings import parse_url
from tests.redis.conftest import REDIS_URL


async def test_enqueues_one_after_another_hold_one_connection(
    redis_backend: RedisBackend,
) -> None:
    scripts = redis_backend._store.scripts
    assert scripts is not None and scripts.lane.held
    pool = redis_backend._store.client.connection_pool  # type: ignore[union-attr]
    await redis_backend.enqueue([new_job()])
    in_use = len(pool._in_use_connections)
    for _ in range(5):
        await redis_backend.enqueue([new_job()])
    # the lane's connection stays out of the pool: it is not taken and given back
    assert len(pool._in_use_connections) == in_use >= 1
    await redis_backend.close()
    assert not scripts.lane.held


async def test_calls_that_find_the_lane_busy_take_pool_connections(
    redis_backend: RedisBackend,
) -> None:
    jobs = [new_job(queue=f"q{i % 3}") for i in range(30)]
    ids = await asyncio.gather(*(redis_backend.enqueue([job]) for job in jobs))
    assert [i for (i,) in ids] == [job.id for job in jobs]
    got = await redis_backend.get([job.id for job in jobs])
    assert all(record is not None and record.state == "queued" for record in got)


async def test_an_enqueue_cancelled_in_flight_leaves_the_lane_usable(
    redis_backend: RedisBackend,
) -> None:
    await redis_backend.enqueue([new_job()])
    for _ in range(3):  # cancelled after its command went, before its answer came
        call = asyncio.ensure_future(redis_backend.enqueue([new_job()]))
        await asyncio.sleep(0)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
    job = new_job()
    assert await redis_backend.enqueue([job]) == [job.id]
    (record,) = await redis_backend.get([job.id])
    assert record is not None and record.state == "queued"


async def test_a_small_pool_lends_no_connection_to_the_lane(redis_url: str) -> None:
    backend = RedisBackend(f"{redis_url}&max_connections=2")
    await backend.connect()
    try:
        assert backend._store.scripts is not None
        assert not backend._store.scripts.lane.held
        job = new_job()
        assert await backend.enqueue([job]) == [job.id]
    finally:
        await backend.close()


async def test_a_lone_enqueue_lists_its_queue_again_once_redis_lost_it(
    redis_backend: RedisBackend, redis_url: str, redis_prefix: str
) -> None:
    stranger = RedisBackend(redis_url)
    await stranger.connect()
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        await redis_backend.enqueue([new_job(queue="emails")])
        # as after a restart without persistence: the list of queues and the marks gone
        await admin.delete(f"{redis_prefix}:queues", f"{redis_prefix}:{{emails}}:listed")
        assert await stranger.stats() == {}
        await redis_backend.enqueue([new_job(queue="emails")])  # one job: the short way
        assert list(await stranger.stats()) == ["emails"]
    finally:
        await admin.aclose()
        await stranger.close()


def test_only_one_servers_pool_lends_a_lane() -> None:
    # behind Sentinel a held connection kept enqueues from the promoted replica
    # (test_sentinel.py's failover hung): no lane there, nor on a cluster
    for url in ("redis+sentinel://127.0.0.1:1/mymaster", "redis+cluster://127.0.0.1:1"):
        assert not Lane(open_client(parse_url(url))).held
    assert Lane(open_client(parse_url(REDIS_URL))).held


def test_a_lane_dropped_with_its_loop_is_collected_without_an_error(redis_url: str) -> None:
    """A sync app's `asyncio.run` per call ends the loop under a connected backend, which
    the runner then forgets unclosed: collecting its lane must raise nothing from inside
    whatever code the garbage collector interrupts (redis-py's finalizer tried to close
    the connection on the closed loop)."""
    import gc
    import sys

    async def enqueue_and_leave() -> RedisBackend:
        backend = RedisBackend(redis_url)
        await backend.connect()
        await backend.enqueue([new_job()])
        assert backend._store.scripts is not None and backend._store.scripts.lane.held
        return backend  # kept past its loop, as the runner keeps it

    raised: list[BaseException | None] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: raised.append(u.exc_value)
    try:
        backend = asyncio.run(enqueue_and_leave())
        del backend  # the runner forgets it
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert [e for e in raised if isinstance(e, RuntimeError)] == []
