"""A worker's claims and outcome reports on lanes of their own (scripts.py, lane.py): after
the first call, which connects the lane, each goes the short way on the lane's connection,
beside the enqueue lane; a claim cancelled in flight leaves its lane usable; a pool under
16 connections lends no worker lanes; closing the backend gives them back."""

from __future__ import annotations

import asyncio
from typing import Any

from taskrunner import JobState
from taskrunner.backend import Outcome, OutcomeKind
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.lane import Lane
from taskrunner_redis.scripts import WORKER_LANES, Scripts
from tests.redis.test_lane_short_way import count_long_way

LEASE = 30.0


def scripts_of(backend: RedisBackend) -> Scripts:
    scripts = backend._store.scripts
    assert scripts is not None
    return scripts


def worker_lane(backend: RedisBackend, name: str) -> Lane:
    return scripts_of(backend)._worker_lanes[name]


async def claim_and_finish(backend: RedisBackend, n: int) -> list[str]:
    claimed = await backend.claim(["default"], n, "w1", LEASE)
    outcomes = [Outcome(r.id, r.attempt, OutcomeKind.SUCCEEDED, result=b"1") for r in claimed]
    assert await backend.finish(outcomes) == [True] * len(claimed)
    return [r.id for r in claimed]


async def test_claims_and_finishes_take_lanes_of_their_own_the_short_way(
    redis_backend: RedisBackend,
) -> None:
    jobs = [new_job() for _ in range(9)]
    await redis_backend.enqueue(jobs)
    assert len(await claim_and_finish(redis_backend, 3)) == 3  # connects both lanes
    lanes = [worker_lane(redis_backend, name) for name in WORKER_LANES]
    own: list[Any] = [lane._own for lane in (*lanes, scripts_of(redis_backend).lane)]
    assert all(lane.held for lane in lanes)
    # three connections: a claim, a report and an enqueue may all be in flight at once
    assert len({id(o.connection) for o in own}) == 3
    long_ways = [count_long_way(lane) for lane in lanes]
    done = await claim_and_finish(redis_backend, 3) + await claim_and_finish(redis_backend, 3)
    assert long_ways == [[], []]
    assert sorted(done) == sorted(job.id for job in jobs[3:])
    got = await redis_backend.get(done)
    assert all(r is not None and r.state is JobState.SUCCEEDED for r in got)
    await redis_backend.close()
    assert not any(lane.held for lane in lanes)


async def test_a_claim_cancelled_in_flight_leaves_its_lane_usable(
    redis_backend: RedisBackend,
) -> None:
    jobs = [new_job() for _ in range(6)]
    await redis_backend.enqueue(jobs)
    await claim_and_finish(redis_backend, 1)  # connects the lane
    call = asyncio.ensure_future(redis_backend.claim(["default"], 2, "w1", LEASE))
    await asyncio.sleep(0)  # its command went, its answer is not read yet
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)
    # the next claim reads its own answer: the jobs the cancelled one took stay claimed
    # (running, their lease to run out, as after any lost answer) and are not taken again
    taken = await claim_and_finish(redis_backend, 5)
    stats = await redis_backend.stats(["default"])
    assert stats["default"][JobState.SUCCEEDED] == 1 + len(taken)
    assert len(taken) + stats["default"].get(JobState.RUNNING, 0) == 5


async def test_a_pool_under_16_connections_lends_no_worker_lanes(redis_url: str) -> None:
    backend = RedisBackend(f"{redis_url}&max_connections=8")
    await backend.connect()
    try:
        assert scripts_of(backend).lane.held  # the enqueue lane still
        assert not any(worker_lane(backend, name).held for name in WORKER_LANES)
        await backend.enqueue([new_job() for _ in range(2)])
        assert len(await claim_and_finish(backend, 2)) == 2
    finally:
        await backend.close()
