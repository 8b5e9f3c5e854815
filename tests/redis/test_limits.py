"""Limits and rates on Redis, beyond the conformance suite: a large backlog of one key set
aside once (most of it at enqueue) and never scanned again, a killed worker's slot coming
back through reclaim, the indexes that held jobs live in, and slots and held jobs behind job
hashes deleted by hand."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis.asyncio as aioredis

from taskrunner.backend import Held, JobRecord, JobState, NewJob, Outcome, OutcomeKind
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from tests.procs import REPO
from tests.redis.conftest import REDIS_URL

WORKER = "w-1"
HOT = 10_000


def limited(key: str, limit: int = 1, **fields: object) -> NewJob:
    return new_job(limit_key=key, limit_max=limit, **fields)  # type: ignore[arg-type]


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


def key(backend: RedisBackend, suffix: str, queue: str = "default") -> str:
    return backend.keys.queue(queue, suffix)


async def ready_count(client: aioredis.Redis, backend: RedisBackend) -> int:
    """How many jobs of the default queue sit in its ready sets (what claims scan)."""
    total = 0
    for level in await client.zrange(key(backend, "prios"), 0, -1):
        assert isinstance(level, bytes)
        total += await client.zcard(key(backend, f"ready:{level.decode()}"))
    return total


async def claim_ids(backend: RedisBackend, n: int) -> set[str]:
    return {record.id for record in await backend.claim(["default"], n, WORKER, 30)}


async def test_a_backlog_of_one_key_is_set_aside_once_and_blocks_no_other_key(
    redis_backend: RedisBackend, client: aioredis.Redis
) -> None:
    hot = [limited("hot") for _ in range(HOT)]
    for start in range(0, HOT, 1000):
        await redis_backend.enqueue(hot[start : start + 1000])
    others = [limited(f"cold:{n}") for n in range(100)]
    await redis_backend.enqueue(others)
    claimed: set[str] = set()
    for _ in range(3):  # one claim sets the backlog aside; a few at the most
        claimed |= await claim_ids(redis_backend, 101)
        if {job.id for job in others} <= claimed:
            break
    assert claimed == {hot[0].id} | {job.id for job in others}
    # the held jobs left the ready sets the claim scans, for their key's held set
    assert await ready_count(client, redis_backend) == 0
    assert await client.zcard(key(redis_backend, "held")) == HOT - 1
    assert await client.zcard(key(redis_backend, "held:limit:0:hot")) == HOT - 1
    (record,) = await redis_backend.get([hot[-1].id])
    assert record is not None and (record.state, record.held) == (JobState.QUEUED, Held.LIMIT)
    assert (await redis_backend.stats(["default"]))["default"][JobState.QUEUED] == HOT - 1
    # later jobs of other keys are claimed at once, each in one claim of its size
    for again in range(3):
        more = [limited(f"cold:{n}:{again}") for n in range(100)]
        await redis_backend.enqueue(more)
        assert await claim_ids(redis_backend, 100) == {job.id for job in more}
    # and a freed slot hands the backlog on in order, one at a time
    (running,) = await redis_backend.get([hot[0].id])
    assert running is not None
    await redis_backend.finish([Outcome(running.id, 1, OutcomeKind.SUCCEEDED)])
    assert await claim_ids(redis_backend, 10) == {hot[1].id}


async def test_a_backlog_stored_at_once_leaves_the_claim_index_max_plus_a_margin(
    redis_backend: RedisBackend, client: aioredis.Redis
) -> None:
    await redis_backend.enqueue([limited("hot", 3) for _ in range(1000)])
    assert await ready_count(client, redis_backend) == 3 + 100
    assert await client.zcard(key(redis_backend, "held:limit:0:hot")) == 1000 - 103
    assert await client.hget(key(redis_backend, "flow"), "limit:hot") == b"3"
    # the next enqueue of the key, a single job, goes behind the held ones at once
    await redis_backend.enqueue([limited("hot", 3)])
    assert await ready_count(client, redis_backend) == 103


async def test_held_jobs_behind_hashes_deleted_by_hand_come_back(
    redis_backend: RedisBackend, client: aioredis.Redis
) -> None:
    jobs = [limited("k") for _ in range(102)]
    await redis_backend.enqueue(jobs)
    (record,) = await redis_backend.get([jobs[-1].id])
    assert record is not None and record.held is Held.LIMIT
    for job in jobs[:-1]:  # every job ahead of the held one
        await client.delete(redis_backend.keys.job("default", job.id))
    assert await claim_ids(redis_backend, 10) == set()  # it meets them, then releases
    assert await claim_ids(redis_backend, 10) == {jobs[-1].id}


async def test_jobs_deleted_by_hand_count_no_more_in_their_key_s_backlog(
    redis_backend: RedisBackend, client: aioredis.Redis
) -> None:
    jobs = [limited("k") for _ in range(101)]
    for job in jobs:
        await redis_backend.enqueue([job])
    for job in jobs:
        await client.delete(redis_backend.keys.job("default", job.id))
    assert await claim_ids(redis_backend, 10) == set()  # meets the lost ones
    late = limited("k")
    await redis_backend.enqueue([late])
    assert await claim_ids(redis_backend, 10) == {late.id}


CLAIMER = textwrap.dedent(
    """
    import asyncio, sys, time
    from taskrunner_redis import RedisBackend

    async def main():
        backend = RedisBackend(sys.argv[1])
        await backend.connect()
        (record,) = await backend.claim(["default"], 1, "doomed", 1.0)
        print("claimed", record.id, flush=True)
        time.sleep(3600)  # no heartbeat: the lease runs out

    asyncio.run(main())
    """
)


@pytest.fixture
def doomed_claimer(redis_url: str) -> Iterator[subprocess.Popen[str]]:
    """A process that claims one job with a one-second lease, then hangs until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CLAIMER, redis_url], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


async def test_the_slot_of_a_killed_worker_comes_back_through_reclaim(
    redis_backend: RedisBackend, doomed_claimer: subprocess.Popen[str]
) -> None:
    first, second = limited("k"), limited("k")
    await redis_backend.enqueue([first, second])
    assert doomed_claimer.stdout is not None
    line = await anyio.to_thread.run_sync(doomed_claimer.stdout.readline)
    assert line.split() == ["claimed", first.id]
    doomed_claimer.kill()
    assert await claim_ids(redis_backend, 10) == set()  # the dead worker's lease holds it
    (held,) = await redis_backend.get([second.id])
    assert held is not None and held.held is Held.LIMIT
    found: list[JobRecord] = []
    with anyio.fail_after(20):  # lease (1s) plus generous slack on a busy machine
        while not found:
            await redis_backend.reclaim()
            found = await redis_backend.claim(["default"], 10, WORKER, 30)
            if not found:
                await redis_backend.wait(["default"], 0.2)
    # the lost attempt's job is back first in order; the second stays held behind it
    assert [(r.id, r.attempt) for r in found] == [(first.id, 2)]
    assert await claim_ids(redis_backend, 10) == set()


async def test_a_slot_whose_job_hash_was_deleted_by_hand_comes_back(
    redis_backend: RedisBackend, client: aioredis.Redis
) -> None:
    first, second = limited("k"), limited("k")
    await redis_backend.enqueue([first, second])
    (record,) = await redis_backend.claim(["default"], 10, WORKER, 0.2)
    assert await claim_ids(redis_backend, 10) == set()
    await client.delete(redis_backend.keys.job("default", record.id))
    await anyio.sleep(0.3)
    await redis_backend.reclaim()  # meets a lease whose job is gone: checks the held keys
    assert await claim_ids(redis_backend, 10) == {second.id}


async def test_cancel_and_purge_of_held_jobs_keep_every_index(
    redis_backend: RedisBackend, client: aioredis.Redis
) -> None:
    jobs = [limited("k") for _ in range(4)]
    rated = [new_job(rate_key="api", rate_max=1, rate_per=3600) for _ in range(3)]
    await redis_backend.enqueue([*jobs, *rated])
    assert len(await redis_backend.claim(["default"], 10, WORKER, 30)) == 2
    assert await redis_backend.cancel([jobs[1].id, rated[1].id], None) == [JobState.CANCELLED] * 2
    for job in (jobs[1], rated[1]):
        (record,) = await redis_backend.get([job.id])
        assert record is not None and record.held is None
    assert await client.zcard(key(redis_backend, "held")) == 3
    assert await client.zscore(key(redis_backend, "opens"), "api") is not None
    assert await redis_backend.purge([JobState.QUEUED]) == 3
    assert await client.zcard(key(redis_backend, "held")) == 0
    assert await client.exists(key(redis_backend, "opens"), key(redis_backend, "flow")) == 0
    stray = await client.keys(f"{redis_backend.prefix}:{{default}}:held*")
    assert stray == []
    counts = (await redis_backend.stats(["default"]))["default"]
    assert (counts[JobState.QUEUED], counts[JobState.RUNNING]) == (0, 2)


async def test_a_rate_window_releases_its_held_jobs_in_order(
    redis_backend: RedisBackend,
) -> None:
    jobs = [new_job(rate_key="api", rate_max=2, rate_per=0.5) for _ in range(5)]
    urgent = new_job(rate_key="api", rate_max=2, rate_per=0.5, priority=-1)
    await redis_backend.enqueue(jobs)
    assert await claim_ids(redis_backend, 10) == {jobs[0].id, jobs[1].id}
    await redis_backend.enqueue([urgent])
    assert await claim_ids(redis_backend, 10) == set()
    order: list[str] = []
    with anyio.fail_after(20):
        while len(order) < 4:
            await redis_backend.wait(["default"], 30)  # wakes when the window opens
            order += [r.id for r in await redis_backend.claim(["default"], 10, WORKER, 30)]
    assert order == [urgent.id, *(job.id for job in jobs[2:])]


async def test_a_worker_busy_with_another_queue_still_claims_when_a_window_opens(
    redis_backend: RedisBackend,
) -> None:
    first, second = (new_job(queue="a", rate_key="api", rate_max=1, rate_per=0.5) for _ in "12")
    await redis_backend.enqueue([first, second])
    assert [r.id for r in await redis_backend.claim(["a", "b"], 1, WORKER, 30)] == [first.id]
    claimed: set[str] = set()
    with anyio.fail_after(20):
        while second.id not in claimed:  # never idle: queue b always has a job for it
            await redis_backend.enqueue([new_job(queue="b")])
            claimed |= {r.id for r in await redis_backend.claim(["a", "b"], 1, WORKER, 30)}
            await anyio.sleep(0.05)
