"""Conformance tests of cancel (with `CancelSignals` where a backend has it) and of manual
retry."""

from __future__ import annotations

import anyio
import pytest

from taskrunner.backend import (
    Backend,
    Beat,
    CancelSignals,
    JobState,
    LeaseStatus,
    Outcome,
    OutcomeKind,
    new_job_id,
)
from taskrunner.testing.conformance.helpers import (
    WORKER,
    Suite,
    claim_one,
    new_job,
    state_of,
)


class CancelRetryTests(Suite):
    """Cancel and manual retry."""

    @pytest.fixture
    def peer(self, backend: Backend) -> Backend:
        """Another client of the store `backend` uses, as another process would hold: by
        default `backend` itself."""
        return backend

    # -- cancel ---------------------------------------------------------------------------

    async def test_cancel_queued_and_scheduled_jobs(self, backend: Backend) -> None:
        queued, scheduled = new_job(), new_job(delay=3600)
        await backend.enqueue([queued, scheduled])
        states = await backend.cancel([queued.id, scheduled.id, new_job_id()], ttl=None)
        assert states == [JobState.CANCELLED, JobState.CANCELLED, None]
        assert await backend.claim(["default"], 5, WORKER, 30) == []
        (record,) = await backend.get([queued.id])
        assert record is not None and record.finished_at is not None

    async def test_cancel_running_job_asks_its_worker(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        assert await backend.cancel([job.id], ttl=None) == [JobState.RUNNING]
        (flagged,) = await backend.get([job.id])
        assert flagged is not None and flagged.cancel_requested
        assert await backend.heartbeat([Beat(job.id, record.attempt)], 30) == [LeaseStatus.CANCEL]
        await backend.finish([Outcome(job.id, record.attempt, OutcomeKind.CANCELLED)])
        assert await state_of(backend, job.id) is JobState.CANCELLED

    async def test_cancel_of_a_running_job_is_signalled_to_listeners(
        self, backend: Backend, peer: Backend
    ) -> None:
        if not isinstance(peer, CancelSignals):
            pytest.skip("the backend has no CancelSignals: workers see cancels at heartbeats")
        running, queued = new_job(), new_job()
        await backend.enqueue([running])
        await claim_one(backend)
        await backend.enqueue([queued])
        async with peer.cancel_requests() as requests:
            await backend.cancel([queued.id, running.id], ttl=None)
            with anyio.fail_after(5):
                assert await anext(requests) == [running.id]  # the queued one needs no worker
            await backend.cancel([running.id], ttl=None)  # asked again: told again
            with anyio.fail_after(5):
                assert await anext(requests) == [running.id]

    async def test_cancel_finished_job_changes_nothing(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        await claim_one(backend)
        await backend.finish([Outcome(job.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        assert await backend.cancel([job.id], ttl=None) == [JobState.SUCCEEDED]

    # -- manual retry ---------------------------------------------------------------------

    async def test_manual_retry_of_a_failed_job_allows_one_more_attempt(
        self, backend: Backend
    ) -> None:
        job = new_job(max_attempts=1)
        await backend.enqueue([job])
        await claim_one(backend)
        await backend.finish([Outcome(job.id, 1, OutcomeKind.FAILED, error=b"{}", ttl=60)])
        assert await backend.retry([job.id]) == [True]
        (record,) = await backend.get([job.id])
        assert record is not None and record.state is JobState.QUEUED
        assert record.max_attempts == 2 and record.finished_at is None
        assert (await claim_one(backend)).attempt == 2

    async def test_manual_retry_runs_a_scheduled_job_now(self, backend: Backend) -> None:
        job = new_job(delay=3600)
        await backend.enqueue([job])
        assert await backend.retry([job.id]) == [True]
        assert (await claim_one(backend)).id == job.id

    async def test_manual_retry_refuses_other_states(self, backend: Backend) -> None:
        queued, done = new_job(), new_job()
        await backend.enqueue([done])
        await claim_one(backend)
        await backend.finish([Outcome(done.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        await backend.enqueue([queued])
        assert await backend.retry([queued.id, done.id, new_job_id()]) == [False, False, False]
