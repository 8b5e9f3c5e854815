"""Conformance tests of deleting single jobs (`JobDeletion`, where a backend has it)."""

from __future__ import annotations

import anyio
import pytest

from taskrunner.backend import Backend, JobDeletion, JobState, Outcome, OutcomeKind, new_job_id
from taskrunner.testing.conformance import helpers
from taskrunner.testing.conformance.helpers import Suite, claim_one, new_job


def deletion(backend: Backend) -> JobDeletion:
    """The backend, or a skip if it cannot delete single jobs."""
    if isinstance(backend, JobDeletion):
        return backend
    pytest.skip("the backend cannot delete single jobs (no JobDeletion)")


class DeletionTests(Suite):
    """Delete by id: finished jobs only, and the deleted ones are gone for every read."""

    async def test_delete_removes_finished_jobs_and_keeps_the_rest(self, backend: Backend) -> None:
        deletes = deletion(backend)
        done, failed, cancelled = new_job(key="del:done"), new_job(), new_job()
        queued, running = new_job(queue="other"), new_job(queue="busy")
        await backend.enqueue([done, failed, cancelled, queued, running])
        await backend.cancel([cancelled.id], ttl=None)
        await backend.claim(["default"], 2, helpers.WORKER, 30)
        await backend.finish(
            [
                Outcome(done.id, 1, OutcomeKind.SUCCEEDED, result=b"1"),
                Outcome(failed.id, 1, OutcomeKind.FAILED, error=b"{}"),
            ]
        )
        await claim_one(backend, queue="busy")
        ids = [done.id, failed.id, cancelled.id, queued.id, running.id, new_job_id()]
        assert await deletes.delete(ids) == [True, True, True, False, False, False]
        records = await backend.get(ids)
        assert records[:3] == [None, None, None]
        assert [r.state if r else None for r in records[3:5]] == [
            JobState.QUEUED,
            JobState.RUNNING,
        ]
        counts = (await backend.stats(["default"]))["default"]
        assert sum(counts.values()) == 0
        assert await deletes.delete([done.id, "not-an-id"]) == [False, False]
        assert await deletes.delete([]) == []

    async def test_a_deleted_job_frees_its_dedup_key(self, backend: Backend) -> None:
        deletes = deletion(backend)
        first = new_job(key="del:again")
        await backend.enqueue([first])
        claimed = await claim_one(backend)
        await backend.finish([Outcome(claimed.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        again = new_job(key="del:again")
        assert await backend.enqueue([again]) == [first.id]  # the finished job holds it
        assert await deletes.delete([first.id]) == [True]
        assert await backend.enqueue([again]) == [again.id]

    async def test_a_record_past_its_retention_counts_as_gone(self, backend: Backend) -> None:
        deletes = deletion(backend)
        expiring = await helpers.finish_expiring(backend)
        await anyio.sleep(helpers.SHORT * 2)
        assert await deletes.delete([job.id for job in expiring]) == [False, False, False]
