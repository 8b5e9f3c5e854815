"""Conformance tests of the inspection methods (see `taskrunner.backend.Inspection`).

A backend that implements `Inspection` subclasses `InspectionConformance` with the same
`backend` fixture as for `BackendConformance`.
"""

from __future__ import annotations

import math
from typing import Any

import anyio
import pytest

from taskrunner.backend import (
    AttemptOutcome,
    Backend,
    Inspection,
    JobFilter,
    JobState,
    Outcome,
    OutcomeKind,
    WorkerRecord,
)
from taskrunner.job import JobInfo
from taskrunner.runner import TaskRunner
from taskrunner.testing.conformance.helpers import (
    BEYOND_YEAR_9999,
    SHORT,
    WORKER,
    Suite,
    claim_one,
    finish_expiring,
    new_job,
)


def inspect(backend: Backend) -> Any:
    assert isinstance(backend, Inspection), f"{type(backend).__name__} lacks inspection"
    return backend


class InspectionConformance(Suite):
    """Subclass with a `backend` fixture yielding a connected, empty backend."""

    async def test_every_attempt_is_kept_on_the_job(self, backend: Backend) -> None:
        job = new_job(max_attempts=3)
        await backend.enqueue([job])
        await claim_one(backend, worker="w1")
        error = b'{"type":"ValueError","message":"boom","traceback":""}'
        await backend.finish([Outcome(job.id, 1, OutcomeKind.RETRY, error=error)])
        await claim_one(backend, worker="w2", lease=SHORT)
        await anyio.sleep(SHORT + 0.1)
        await backend.reclaim()  # attempt 2 lost its lease
        await claim_one(backend, worker="w3")
        await backend.finish([Outcome(job.id, 3, OutcomeKind.SUCCEEDED, result=b"1")])
        (record,) = await backend.get([job.id])
        assert record is not None and record.attempts is not None
        attempts = record.attempts
        assert [(a.attempt, a.worker, a.outcome) for a in attempts] == [
            (1, "w1", AttemptOutcome.RETRY),
            (2, "w2", AttemptOutcome.LOST),
            (3, "w3", AttemptOutcome.SUCCEEDED),
        ]
        assert attempts[0].error == error
        assert attempts[2].error is None
        for attempt in attempts:
            assert attempt.started_at is not None and attempt.ended_at >= attempt.started_at
        assert attempts[0].ended_at <= attempts[1].started_at  # type: ignore[operator]

    async def test_list_jobs_newest_first_with_filters_and_paging(self, backend: Backend) -> None:
        a = [new_job(queue="a", task="t.one") for _ in range(5)]
        b = [new_job(queue="b", task="t.two") for _ in range(3)]
        for job in a + b:
            await backend.enqueue([job])
        done = await claim_one(backend, queue="a")
        await backend.finish([Outcome(done.id, 1, OutcomeKind.FAILED, error=b"{}")])
        listing = inspect(backend)
        everything = await listing.list_jobs(JobFilter(), 100)
        assert [r.id for r in everything] == [j.id for j in reversed(a + b)]
        first = await listing.list_jobs(JobFilter(queue="a"), 2)
        assert [r.id for r in first] == [a[4].id, a[3].id]
        second = await listing.list_jobs(JobFilter(queue="a"), 2, before=first[-1].id)
        assert [r.id for r in second] == [a[2].id, a[1].id]
        failed = await listing.list_jobs(JobFilter(state=JobState.FAILED), 10)
        assert [r.id for r in failed] == [a[0].id]
        queued_two = await listing.list_jobs(JobFilter(state=JobState.QUEUED, task="t.two"), 10)
        assert [r.id for r in queued_two] == [j.id for j in reversed(b)]
        assert await listing.list_jobs(JobFilter(queue="nowhere"), 10) == []

    async def test_list_jobs_leaves_out_expired_records(self, backend: Backend) -> None:
        expiring = await finish_expiring(backend)
        kept = new_job()
        await backend.enqueue([kept])
        listing = inspect(backend)
        assert len(await listing.list_jobs(JobFilter(), 10)) == 4
        await anyio.sleep(SHORT + 0.1)  # no reclaim: listing must judge retention itself
        for where in (
            JobFilter(),
            JobFilter(queue="default"),
            JobFilter(task="tests.noop"),
            JobFilter(state=JobState.SUCCEEDED),
            JobFilter(queue="default", state=JobState.FAILED),
            JobFilter(state=JobState.CANCELLED, task="tests.noop"),
        ):
            listed = [r.id for r in await listing.list_jobs(where, 10)]
            assert not {job.id for job in expiring} & set(listed), where
        assert [r.id for r in await listing.list_jobs(JobFilter(), 10)] == [kept.id]

    async def test_list_jobs_by_enqueue_time(self, backend: Backend) -> None:
        old = new_job()
        await backend.enqueue([old])
        await anyio.sleep(0.05)
        middle = await backend.now()
        await anyio.sleep(0.05)
        new = new_job()
        await backend.enqueue([new])
        listing = inspect(backend)
        assert [r.id for r in await listing.list_jobs(JobFilter(since=middle), 10)] == [new.id]
        assert [r.id for r in await listing.list_jobs(JobFilter(until=middle), 10)] == [old.id]

    async def test_list_jobs_tells_queued_from_scheduled(self, backend: Backend) -> None:
        due, later = new_job(), new_job(delay=3600)
        await backend.enqueue([due, later])
        listing = inspect(backend)
        queued = await listing.list_jobs(JobFilter(state=JobState.QUEUED), 10)
        scheduled = await listing.list_jobs(JobFilter(state=JobState.SCHEDULED), 10)
        assert [r.id for r in queued] == [due.id]
        assert [r.id for r in scheduled] == [later.id]

    async def test_list_jobs_reads_a_due_time_beyond_the_year_9999(self, backend: Backend) -> None:
        job = new_job(at=BEYOND_YEAR_9999)
        await backend.enqueue([job])
        (record,) = await inspect(backend).list_jobs(JobFilter(state=JobState.SCHEDULED), 10)
        assert record.id == job.id
        assert record.run_at == pytest.approx(BEYOND_YEAR_9999, rel=1e-9)
        assert JobInfo.from_record(record).run_at.year == 9999

    async def test_activity_counts_recent_attempts_and_the_oldest_wait(
        self, backend: Backend
    ) -> None:
        waiting = new_job(queue="q")
        jobs = [new_job(queue="q") for _ in range(3)]
        await backend.enqueue([waiting])
        await backend.enqueue(jobs)
        await anyio.sleep(0.05)
        claimed = await backend.claim(["q"], 4, WORKER, 30)
        ids = {r.id for r in claimed}
        assert ids == {waiting.id, *(j.id for j in jobs)}
        await backend.enqueue([later := new_job(queue="q")])
        outcomes = [
            Outcome(jobs[0].id, 1, OutcomeKind.SUCCEEDED, result=b"1"),
            Outcome(jobs[1].id, 1, OutcomeKind.SUCCEEDED, result=b"1"),
            Outcome(jobs[2].id, 1, OutcomeKind.FAILED, error=b"{}"),
        ]
        await backend.finish(outcomes)
        activity = (await inspect(backend).activity(["q"]))["q"]
        assert sorted(outcome for _, _, outcome in activity.recent) == sorted(
            [AttemptOutcome.SUCCEEDED, AttemptOutcome.SUCCEEDED, AttemptOutcome.FAILED]
        )
        assert all(runtime >= 0.0 for _, runtime, _ in activity.recent)
        counted: dict[AttemptOutcome, int] = {}
        for counts in activity.per_minute.values():
            for outcome, n in counts.items():
                counted[outcome] = counted.get(outcome, 0) + n
        assert counted == {AttemptOutcome.SUCCEEDED: 2, AttemptOutcome.FAILED: 1}
        (stored,) = await backend.get([later.id])
        assert stored is not None
        assert activity.oldest_due_at == pytest.approx(stored.run_at, abs=0.001)

    async def test_stats_count_a_window_to_the_second(self, backend: Backend) -> None:
        # a window counts what ended from the start of the second it begins in: an attempt
        # that ended two seconds ago is outside a one-second window, even in the same minute
        await backend.enqueue([new_job(queue="q"), new_job(queue="q")])
        done = await claim_one(backend, queue="q")
        await backend.finish([Outcome(done.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        await anyio.sleep(2.2)
        failed = await claim_one(backend, queue="q")
        await backend.finish([Outcome(failed.id, 1, OutcomeKind.FAILED, error=b"{}")])
        runner = TaskRunner(backend=backend)
        for window, ended, failure_rate in [(1.0, 1, 1.0), (10.0, 2, 0.5)]:
            stats = (await runner.stats(["q"], window=window))["q"]
            assert stats.span is not None and window <= stats.span < window + 1
            assert stats.throughput == pytest.approx(ended / stats.span)
            assert stats.failure_rate == failure_rate
        since = await backend.now() - 1
        activity = (await inspect(backend).activity(["q"], since=since))["q"]
        first = math.floor(since)
        assert all(first <= second < (first // 60 + 1) * 60 for second in activity.per_second)

    async def test_workers_register_expire_and_unregister(self, backend: Backend) -> None:
        registry = inspect(backend)
        now = await backend.now()
        a = WorkerRecord("host:1:a", "host", 1, ("default",), 10, 2, now)
        b = WorkerRecord("host:2:b", "host", 2, ("mail", "default"), 5, 0, now)
        await registry.register_worker(a, ttl=30)
        await registry.register_worker(b, ttl=SHORT)
        seen = {w.id: w for w in await registry.workers()}
        assert set(seen) == {a.id, b.id}
        assert seen[b.id].queues == ("mail", "default")
        assert (seen[a.id].concurrency, seen[a.id].running, seen[a.id].pid) == (10, 2, 1)
        assert seen[a.id].last_seen >= now
        await anyio.sleep(SHORT + 0.1)
        assert [w.id for w in await registry.workers()] == [a.id]
        await registry.unregister_worker(a.id)
        assert await registry.workers() == []

    async def test_list_running_jobs(self, backend: Backend) -> None:
        jobs = [new_job() for _ in range(3)]
        await backend.enqueue(jobs)
        await backend.claim(["default"], 2, WORKER, 30)
        listing = inspect(backend)
        running = await listing.list_jobs(JobFilter(state=JobState.RUNNING), 10)
        assert [r.id for r in running] == [jobs[1].id, jobs[0].id]
        page = await listing.list_jobs(JobFilter(state=JobState.RUNNING), 1, before=jobs[1].id)
        assert [r.id for r in page] == [jobs[0].id]
