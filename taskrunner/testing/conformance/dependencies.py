"""Conformance tests of dependencies (`Dependencies`, where a backend has it): jobs that
wait (state `waiting`) until the jobs in their `after` succeeded, and are cancelled when
one fails or is cancelled."""

from __future__ import annotations

import anyio
import pytest

from taskrunner.backend import (
    DEPENDENCY_FAILED,
    Backend,
    Dependencies,
    Inspection,
    JobFilter,
    JobRecord,
    JobState,
    NewJob,
    Outcome,
    OutcomeKind,
    new_job_id,
)
from taskrunner.errors import DependencyNotFound, JobError
from taskrunner.testing.conformance.helpers import (
    SHORT,
    WORKER,
    Suite,
    claim_one,
    new_job,
    state_of,
)


def dependencies(backend: Backend) -> Dependencies:
    if not isinstance(backend, Dependencies):
        pytest.skip("the backend keeps no dependencies (no Dependencies)")
    return backend


async def stored(backend: Backend, *jobs: NewJob) -> list[NewJob]:
    """Store the jobs, each in its own enqueue, in order (a dependent after its
    dependencies), and answer them."""
    dependencies(backend)
    for job in jobs:
        assert await backend.enqueue([job]) == [job.id]
    return list(jobs)


async def end(
    backend: Backend, job: NewJob, kind: OutcomeKind = OutcomeKind.SUCCEEDED
) -> JobRecord:
    """Claim `job` (the only due job of its queue) and end its attempt with `kind`."""
    record = await claim_one(backend, job.queue)
    assert record.id == job.id
    outcome = Outcome(record.id, record.attempt, kind, result=b'"done"', error=b"{}")
    assert await backend.finish([outcome]) == [True]
    return record


async def record_of(backend: Backend, job_id: str) -> JobRecord:
    (record,) = await backend.get([job_id])
    assert record is not None
    return record


def cancelled_by(record: JobRecord, dependency: str, how: str) -> None:
    """`record` was cancelled by its dependency `dependency`, which `how` (failed, ...)."""
    assert record.state is JobState.CANCELLED
    assert record.error is not None
    error = JobError.decode(record.error)
    assert error.type == DEPENDENCY_FAILED
    assert error.message == f"its dependency {dependency} {how}"


class DependencyTests(Suite):
    """Dependencies: waiting, release, cancellation in cascade, checks at enqueue."""

    async def test_a_dependent_waits_until_its_dependency_succeeded(self, backend: Backend) -> None:
        first = new_job()
        then = new_job(after=(first.id,))
        await stored(backend, first, then)
        record = await record_of(backend, then.id)
        assert record.state is JobState.WAITING and record.after == (first.id,)
        await end(backend, first)  # the claim took `first`, not the waiting job
        assert await state_of(backend, then.id) is JobState.QUEUED
        assert (await claim_one(backend)).id == then.id

    async def test_a_retry_or_a_lost_lease_is_no_end(self, backend: Backend) -> None:
        first = new_job()
        then = new_job(after=(first.id,))
        await stored(backend, first, then)
        record = await claim_one(backend, lease=SHORT)
        await anyio.sleep(SHORT * 2)
        assert record.id in await backend.reclaim()
        record = await claim_one(backend)
        retry = Outcome(first.id, record.attempt, OutcomeKind.RETRY, error=b"{}")
        await backend.finish([retry])
        assert await state_of(backend, then.id) is JobState.WAITING
        await end(backend, first)
        assert await state_of(backend, then.id) is JobState.QUEUED

    async def test_a_dependent_waits_for_every_dependency_on_any_queue(
        self, backend: Backend
    ) -> None:
        one, two = new_job(queue="deps-a"), new_job(queue="deps-b")
        then = new_job(queue="deps-c", after=(one.id, two.id))
        await stored(backend, one, two, then)
        await end(backend, one)
        assert await state_of(backend, then.id) is JobState.WAITING
        assert await backend.claim(["deps-c"], 10, WORKER, 30) == []
        await end(backend, two)
        assert (await claim_one(backend, "deps-c")).id == then.id

    async def test_a_failed_dependency_cancels_its_dependents_in_cascade(
        self, backend: Backend
    ) -> None:
        first = new_job()
        then = new_job(queue="deps-b", after=(first.id,))
        last = new_job(queue="deps-c", after=(then.id,))
        await stored(backend, first, then, last)
        await end(backend, first, OutcomeKind.FAILED)
        cancelled_by(await record_of(backend, then.id), first.id, "failed")
        cancelled_by(await record_of(backend, last.id), then.id, "was cancelled")
        assert await backend.claim(["deps-b", "deps-c"], 10, WORKER, 30) == []

    async def test_a_cancelled_dependency_cancels_its_dependents(self, backend: Backend) -> None:
        first = new_job(delay=3600)
        then = new_job(after=(first.id,))
        await stored(backend, first, then)
        assert await backend.cancel([first.id], ttl=None) == [JobState.CANCELLED]
        cancelled_by(await record_of(backend, then.id), first.id, "was cancelled")

    async def test_run_anyway_takes_any_end(self, backend: Backend) -> None:
        first, second = new_job(), new_job(queue="deps-b")
        then = new_job(queue="deps-c", after=(first.id, second.id), after_run_anyway=True)
        await stored(backend, first, second, then)
        await end(backend, first, OutcomeKind.FAILED)
        assert await state_of(backend, then.id) is JobState.WAITING
        await backend.cancel([second.id], ttl=None)
        record = await record_of(backend, then.id)
        assert record.state is JobState.QUEUED and record.after_run_anyway

    async def test_dependencies_ended_already_are_judged_at_enqueue(self, backend: Backend) -> None:
        done, failed = new_job(), new_job(queue="deps-b")
        await stored(backend, done, failed)
        await end(backend, done)
        await end(backend, failed, OutcomeKind.FAILED)
        queued = new_job(queue="deps-c", after=(done.id,))
        cancelled = new_job(queue="deps-c", after=(done.id, failed.id))
        anyway = new_job(queue="deps-c", after=(failed.id,), after_run_anyway=True)
        await stored(backend, queued, cancelled, anyway)
        assert await state_of(backend, queued.id) is JobState.QUEUED
        cancelled_by(await record_of(backend, cancelled.id), failed.id, "failed")
        assert await state_of(backend, anyway.id) is JobState.QUEUED

    async def test_a_dependent_released_later_keeps_its_own_due_time(
        self, backend: Backend
    ) -> None:
        first = new_job()
        then = new_job(after=(first.id,), delay=3600)
        await stored(backend, first, then)
        await end(backend, first)
        assert await state_of(backend, then.id) is JobState.SCHEDULED

    async def test_an_unknown_dependency_stores_nothing(self, backend: Backend) -> None:
        dependencies(backend)
        bystander, unknown = new_job(), new_job_id()
        dependent = new_job(queue="deps-b", after=(unknown,))
        with pytest.raises(DependencyNotFound) as caught:
            await backend.enqueue([bystander, dependent])
        assert caught.value.job_id == unknown
        assert await backend.get([bystander.id, dependent.id]) == [None, None]

    async def test_an_expired_dependency_is_unknown(self, backend: Backend) -> None:
        first = new_job()
        then = new_job(after=(first.id,))
        await stored(backend, first, then)
        record = await claim_one(backend)
        ended = Outcome(first.id, record.attempt, OutcomeKind.SUCCEEDED, result=b"1", ttl=SHORT)
        await backend.finish([ended])
        assert await state_of(backend, then.id) is JobState.QUEUED
        await anyio.sleep(SHORT * 2)
        with pytest.raises(DependencyNotFound):
            await backend.enqueue([new_job(after=(first.id,))])

    async def test_a_waiting_job_can_be_cancelled_not_retried(self, backend: Backend) -> None:
        first = new_job()
        then = new_job(after=(first.id,))
        last = new_job(after=(then.id,), after_ttl=3600)
        await stored(backend, first, then, last)
        assert await backend.retry([then.id]) == [False]
        assert await backend.cancel([then.id], ttl=None) == [JobState.CANCELLED]
        cancelled_by(await record_of(backend, last.id), then.id, "was cancelled")
        await end(backend, first)  # ends later: the cancelled job stays so
        assert await state_of(backend, then.id) is JobState.CANCELLED

    async def test_a_dependency_retried_by_hand_brings_nothing_back(self, backend: Backend) -> None:
        first = new_job()
        then = new_job(after=(first.id,))
        await stored(backend, first, then)
        await end(backend, first, OutcomeKind.FAILED)
        assert await backend.retry([first.id]) == [True]
        await end(backend, first)
        assert await state_of(backend, then.id) is JobState.CANCELLED

    async def test_waiting_jobs_are_counted_listed_and_named(self, backend: Backend) -> None:
        first = new_job(queue="deps-a")
        then = new_job(queue="deps-b", after=(first.id,))
        other = new_job(queue="deps-b", after=(first.id,))
        await stored(backend, first, then, other)
        stats = await backend.stats(["deps-b"])
        assert stats["deps-b"][JobState.WAITING] == 2
        assert stats["deps-b"][JobState.QUEUED] == 0
        assert await dependencies(backend).dependents(first.id) == [then.id, other.id]
        assert await dependencies(backend).dependents(first.id, limit=1) == [then.id]
        if isinstance(backend, Inspection):
            waiting = await backend.list_jobs(JobFilter(state=JobState.WAITING), 10)
            assert {r.id for r in waiting} == {then.id, other.id}
        await end(backend, first)
        stats = await backend.stats(["deps-b"])
        assert (stats["deps-b"][JobState.WAITING], stats["deps-b"][JobState.QUEUED]) == (0, 2)
        assert await dependencies(backend).dependents(first.id) == []

    async def test_a_duplicate_dependent_waits_on_nothing_new(self, backend: Backend) -> None:
        first, second = new_job(), new_job()
        then = new_job(key="deps:once", after=(first.id,))
        await stored(backend, first, second, then)
        again = new_job(key="deps:once", after=(second.id,))
        assert await backend.enqueue([again]) == [then.id]
        assert await dependencies(backend).dependents(second.id) == []
        assert await backend.get([again.id]) == [None]

    async def test_many_dependents_of_one_job(self, backend: Backend) -> None:
        first = new_job(queue="deps-a")
        dependents = [new_job(queue=f"deps-{n % 3}", after=(first.id,)) for n in range(30)]
        await stored(backend, first)
        await backend.enqueue(dependents)
        await end(backend, first)
        claimed = await backend.claim(["deps-0", "deps-1", "deps-2"], 100, WORKER, 30)
        assert sorted(r.id for r in claimed) == sorted(d.id for d in dependents)

    async def test_a_long_chain_cancels_to_its_end(self, backend: Backend) -> None:
        first = new_job()
        chain = [first]
        for _ in range(50):
            chain.append(new_job(after=(chain[-1].id,)))
        await stored(backend, *chain)
        await backend.cancel([first.id], ttl=None)
        states = {r.state for r in await backend.get([j.id for j in chain]) if r is not None}
        assert states == {JobState.CANCELLED}
