"""Conformance tests of outcomes: finishing a batch, each outcome applied once, retries
and releases, retention of finished records, waiting for a result."""

from __future__ import annotations

import anyio

from taskrunner.backend import (
    AttemptOutcome,
    Backend,
    JobState,
    Outcome,
    OutcomeKind,
)
from taskrunner.testing.conformance.helpers import (
    SHORT,
    WORKER,
    Suite,
    claim_one,
    finish_expiring,
    new_job,
    state_of,
)


class OutcomeTests(Suite):
    """Finish, retry outcomes, retention and waiting for results."""

    # -- finish ---------------------------------------------------------------------------

    async def test_an_outcome_is_applied_once(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        done = Outcome(job.id, record.attempt, OutcomeKind.SUCCEEDED, result=b"1", ttl=None)
        assert await backend.finish([done]) == [True]
        again = Outcome(job.id, record.attempt, OutcomeKind.FAILED, error=b"{}", ttl=None)
        assert await backend.finish([again]) == [False]
        assert await state_of(backend, job.id) is JobState.SUCCEEDED

    async def test_finish_applies_a_batch(self, backend: Backend) -> None:
        jobs = [new_job() for _ in range(3)]
        await backend.enqueue(jobs)
        claimed = await backend.claim(["default"], 3, WORKER, 30)
        outcomes = [
            Outcome(claimed[0].id, 1, OutcomeKind.SUCCEEDED, result=b"null", ttl=None),
            Outcome(claimed[1].id, 1, OutcomeKind.FAILED, error=b'{"type":"E"}', ttl=None),
            Outcome(claimed[2].id, 1, OutcomeKind.CANCELLED, ttl=None),
        ]
        assert await backend.finish(outcomes) == [True, True, True]
        records = await backend.get([r.id for r in claimed])
        assert [r.state for r in records if r] == [
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
        ]
        assert all(r is not None and r.finished_at is not None for r in records)
        assert records[1] is not None and records[1].error == b'{"type":"E"}'

    # -- retries and putting back ---------------------------------------------------------

    async def test_retry_at_waits_then_runs_the_next_attempt(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        retry = Outcome(
            job.id, record.attempt, OutcomeKind.RETRY, error=b'{"type":"E"}', delay=SHORT
        )
        assert await backend.finish([retry]) == [True]
        (waiting,) = await backend.get([job.id])
        assert waiting is not None and waiting.state is JobState.SCHEDULED
        assert waiting.error == b'{"type":"E"}'
        assert await backend.claim(["default"], 5, WORKER, 30) == []
        await anyio.sleep(SHORT + 0.1)
        again = await claim_one(backend)
        assert (again.id, again.attempt) == (job.id, 2)

    async def test_retry_without_delay_is_due_at_once(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        await backend.finish([Outcome(job.id, record.attempt, OutcomeKind.RETRY, error=b"{}")])
        assert (await claim_one(backend)).attempt == 2

    async def test_released_job_is_queued_without_using_an_attempt(self, backend: Backend) -> None:
        job = new_job(max_attempts=1)
        await backend.enqueue([job])
        record = await claim_one(backend)
        assert await backend.finish([Outcome(job.id, 1, OutcomeKind.RELEASED)]) == [True]
        (queued,) = await backend.get([job.id])
        assert queued is not None and queued.state is JobState.QUEUED
        assert (queued.attempt, queued.max_attempts) == (record.attempt, 2)
        assert (await claim_one(backend)).attempt == 2

    async def test_released_with_a_delay_waits_without_using_an_attempt(
        self, backend: Backend
    ) -> None:
        job = new_job(max_attempts=1)
        await backend.enqueue([job])
        await claim_one(backend)
        why = b'{"type":"Snoozed","message":"snoozed"}'
        put_back = Outcome(job.id, 1, OutcomeKind.RELEASED, error=why, delay=SHORT)
        assert await backend.finish([put_back]) == [True]
        (waiting,) = await backend.get([job.id])
        assert waiting is not None and waiting.state is JobState.SCHEDULED
        assert (waiting.max_attempts, waiting.error) == (2, None)
        if waiting.attempts is not None:  # where the backend keeps the history
            assert (waiting.attempts[-1].outcome, waiting.attempts[-1].error) == (
                AttemptOutcome.RELEASED,
                why,
            )
        assert await backend.claim(["default"], 5, WORKER, 30) == []
        await anyio.sleep(SHORT + 0.1)
        again = await claim_one(backend)
        assert (again.id, again.attempt, again.max_attempts) == (job.id, 2, 2)

    async def test_a_cancelled_outcome_keeps_its_error(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        await claim_one(backend)
        why = b'{"type":"Expired","message":"too late"}'
        cancelled = Outcome(job.id, 1, OutcomeKind.CANCELLED, error=why, ttl=None)
        assert await backend.finish([cancelled]) == [True]
        (record,) = await backend.get([job.id])
        assert record is not None and record.state is JobState.CANCELLED
        assert record.error == why

    # -- retention ------------------------------------------------------------------------

    async def test_result_ttl_expires_finished_jobs(self, backend: Backend) -> None:
        short, kept = new_job(), new_job()
        await backend.enqueue([short, kept])
        await backend.claim(["default"], 2, WORKER, 30)
        await backend.finish(
            [
                Outcome(short.id, 1, OutcomeKind.SUCCEEDED, result=b"1", ttl=SHORT),
                Outcome(kept.id, 1, OutcomeKind.FAILED, error=b"{}", ttl=None),
            ]
        )
        await anyio.sleep(SHORT + 0.1)
        await backend.reclaim()
        records = await backend.get([short.id, kept.id])
        assert records[0] is None
        assert records[1] is not None and records[1].state is JobState.FAILED

    async def test_expired_records_are_gone_without_a_reclaim(self, backend: Backend) -> None:
        # no worker runs, so nothing tidies up: every read must judge retention itself
        expiring = await finish_expiring(backend)
        kept = new_job(key="kept")
        await backend.enqueue([kept])
        await claim_one(backend)
        await backend.finish([Outcome(kept.id, 1, OutcomeKind.FAILED, error=b"{}", ttl=3600)])
        ids = [job.id for job in expiring]
        assert [r.state if r else None for r in await backend.get(ids)] == [
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
        ]
        await anyio.sleep(SHORT + 0.1)
        records = await backend.get([*ids, kept.id])
        assert records[:3] == [None, None, None]
        assert records[3] is not None and records[3].state is JobState.FAILED
        for job_id in ids:
            assert await backend.wait_finished(job_id, 0.05) is None
        assert await backend.cancel(ids, ttl=None) == [None, None, None]
        assert await backend.retry(ids) == [False, False, False]
        counts = (await backend.stats(["default"]))["default"]
        assert (counts[JobState.SUCCEEDED], counts[JobState.FAILED]) == (0, 1)
        assert counts[JobState.CANCELLED] == 0
        assert await backend.purge([JobState.SUCCEEDED, JobState.CANCELLED]) == 0

    # -- waiting for results --------------------------------------------------------------

    async def test_wait_finished_returns_the_finished_record(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)

        async def finish_soon() -> None:
            await anyio.sleep(0.05)
            await backend.finish(
                [Outcome(job.id, record.attempt, OutcomeKind.SUCCEEDED, result=b"42")]
            )

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(finish_soon)
                done = await backend.wait_finished(job.id, 60)
        assert done is not None and done.result == b"42"

    async def test_wait_finished_times_out_on_an_unfinished_job(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        assert await backend.wait_finished(job.id, 0.05) is None
