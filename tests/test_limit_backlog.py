"""A backlog of one limit key set aside at enqueue, on the memory, Redis and SQLite backends: a job
due now behind enough queued jobs of its key (or behind its key's held jobs) is stored held,
so no claim has to meet it and set it aside; it still runs in order, never beside more than
its key's max, and a job that waits on others or falls due later is never held at enqueue."""

from __future__ import annotations

import pathlib
import secrets
from collections.abc import AsyncIterator

import pytest

from taskrunner.backend import Backend, Held, JobState, NewJob, Outcome, OutcomeKind
from taskrunner.memory import MemoryBackend
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend

WORKER = "w-1"
MARGIN = 100  # the jobs beyond max an enqueue makes ready before it holds the rest


def limited(key: str, limit: int = 1, **fields: object) -> NewJob:
    return new_job(limit_key=key, limit_max=limit, **fields)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "redis", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[Backend]:
    """A memory backend, a Redis one on a key prefix of the test's own, an SQLite one on a
    file of its own."""
    if request.param == "memory":
        yield MemoryBackend()
        return
    if request.param == "sqlite":
        from tests.sqlite.conftest import connected

        async with connected(f"sqlite:///{tmp_path / 'jobs.db'}") as sqlite:
            yield sqlite
        return
    from tests.redis.conftest import REDIS_URL, delete_prefix

    prefix = f"backlog_{secrets.token_hex(5)}"
    redis = RedisBackend(f"{REDIS_URL}?prefix={prefix}")
    await redis.connect()
    yield redis
    await redis.close()
    await delete_prefix(REDIS_URL, prefix)


async def held_of(backend: Backend, jobs: list[NewJob]) -> list[Held | None]:
    records = await backend.get([job.id for job in jobs])
    assert all(record is not None and record.state is JobState.QUEUED for record in records)
    return [record.held for record in records if record is not None]


async def claim_ids(backend: Backend, n: int) -> list[str]:
    return [record.id for record in await backend.claim(["default"], n, WORKER, 30)]


async def succeed(backend: Backend, job_id: str) -> None:
    await backend.finish([Outcome(job_id, 1, OutcomeKind.SUCCEEDED)])


async def test_a_backlog_stored_before_any_claim_is_held_at_enqueue_and_drains_in_order(
    backend: Backend,
) -> None:
    hot = [limited("hot", 2) for _ in range(400)]
    others = [limited(f"cold:{n}") for n in range(20)]
    await backend.enqueue(hot)
    await backend.enqueue(others)
    # max + MARGIN of them are queued where claims look; the rest are held already
    ahead = 2 + MARGIN
    assert await held_of(backend, hot) == [None] * ahead + [Held.LIMIT] * (400 - ahead)
    counts = (await backend.stats(["default"]))["default"]
    assert counts[JobState.QUEUED] == 420
    # one claim meets the jobs ahead, not the whole backlog, and reaches the other keys
    wanted = [hot[0].id, hot[1].id, *(job.id for job in others)]
    assert sorted(await claim_ids(backend, len(wanted))) == sorted(wanted)
    assert set(await held_of(backend, hot[2:])) == {Held.LIMIT}
    # a freed slot hands the backlog on in enqueue order, never more than 2 running
    running = [hot[0].id, hot[1].id]
    for job in hot[2:]:
        await succeed(backend, running.pop(0))
        assert await claim_ids(backend, 10) == [job.id]
        running.append(job.id)
    for job_id in running:
        await succeed(backend, job_id)
    assert await claim_ids(backend, 10) == []
    counts = (await backend.stats(["default"]))["default"]
    assert (counts[JobState.QUEUED], counts[JobState.SUCCEEDED]) == (0, 400)


async def test_jobs_of_a_key_with_held_jobs_are_held_at_enqueue_unless_better(
    backend: Backend,
) -> None:
    first = [limited("k") for _ in range(3)]
    await backend.enqueue(first)
    assert await claim_ids(backend, 10) == [first[0].id]
    later, urgent = limited("k"), limited("k", priority=-1)
    await backend.enqueue([later])
    await backend.enqueue([urgent])
    # behind the held jobs of its level; a better priority is queued and comes first
    assert await held_of(backend, [later, urgent]) == [Held.LIMIT, None]
    order = [urgent, first[1], first[2], later]
    running = first[0].id
    for job in order:
        await succeed(backend, running)
        assert await claim_ids(backend, 10) == [job.id]
        running = job.id


async def test_waiting_delayed_and_timed_jobs_are_not_held_at_enqueue(
    backend: Backend,
) -> None:
    jobs = [limited("k") for _ in range(3)]
    await backend.enqueue(jobs)
    assert await claim_ids(backend, 10) == [jobs[0].id]  # jobs 1 and 2 are held
    dependent = limited("k", after=(jobs[0].id,))
    delayed = limited("k", delay=3600.0)
    timed = limited("k", at=1.0)  # due long ago: ahead of the held ones in claim order
    await backend.enqueue([dependent, delayed, timed])
    records = await backend.get([dependent.id, delayed.id, timed.id])
    assert [(r.state, r.held) for r in records if r is not None] == [
        (JobState.WAITING, None),
        (JobState.SCHEDULED, None),
        (JobState.QUEUED, None),
    ]
    await succeed(backend, jobs[0].id)
    assert await claim_ids(backend, 10) == [timed.id]  # due first of all
    (record,) = await backend.get([dependent.id])  # queued now, as any other job
    assert record is not None and record.state is JobState.QUEUED


async def test_cancelling_the_jobs_ahead_lets_a_held_one_run(backend: Backend) -> None:
    jobs = [limited("k") for _ in range(1 + MARGIN + 1)]
    await backend.enqueue(jobs)
    assert await held_of(backend, jobs[-1:]) == [Held.LIMIT]
    states = await backend.cancel([job.id for job in jobs[:-1]], None)
    assert states == [JobState.CANCELLED] * (1 + MARGIN)
    assert await claim_ids(backend, 10) == [jobs[-1].id]


async def test_a_job_enqueued_after_its_key_s_held_jobs_were_purged_runs(
    backend: Backend,
) -> None:
    jobs = [limited("k") for _ in range(3)]
    await backend.enqueue(jobs)
    (first,) = await backend.claim(["default"], 10, WORKER, 30)
    await succeed(backend, first.id)  # hands jobs[1] back; jobs[2] stays held
    assert await backend.purge([JobState.QUEUED]) == 2
    late = limited("k")
    await backend.enqueue([late])
    assert await claim_ids(backend, 10) == [late.id]


async def test_a_backlog_enqueued_one_job_at_a_time_is_held_at_enqueue_too(
    backend: Backend,
) -> None:
    jobs = [limited("k") for _ in range(1 + MARGIN + 5)]
    for job in jobs:
        await backend.enqueue([job])
    assert await held_of(backend, jobs) == [None] * (1 + MARGIN) + [Held.LIMIT] * 5
    running = jobs[0].id
    assert await claim_ids(backend, 200) == [running]
    for job in jobs[1:]:
        await succeed(backend, running)
        assert await claim_ids(backend, 10) == [job.id]
        running = job.id


async def test_queued_jobs_cancelled_since_count_no_more(backend: Backend) -> None:
    jobs = [limited("k") for _ in range(1 + MARGIN)]
    for job in jobs:
        await backend.enqueue([job])
    await backend.cancel([job.id for job in jobs], None)
    late = limited("k")
    await backend.enqueue([late])
    assert await held_of(backend, [late]) == [None]
    assert await claim_ids(backend, 10) == [late.id]
