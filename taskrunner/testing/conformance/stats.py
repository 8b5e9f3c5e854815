"""Conformance tests of the counts by queue and state, and of purge."""

from __future__ import annotations

from taskrunner.backend import (
    Backend,
    JobState,
    Outcome,
    OutcomeKind,
)
from taskrunner.testing.conformance.helpers import (
    WORKER,
    Suite,
    claim_one,
    new_job,
)


class StatsTests(Suite):
    """Stats and purge."""

    # -- stats, purge ---------------------------------------------------------------------

    async def test_stats_count_jobs_by_queue_and_state(self, backend: Backend) -> None:
        await backend.enqueue([new_job(queue="a") for _ in range(3)])
        await backend.enqueue([new_job(queue="a", delay=3600), new_job(queue="b")])
        running = await claim_one(backend, queue="a")
        await backend.finish([Outcome(running.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        await claim_one(backend, queue="a")
        stats = await backend.stats(["a", "b", "empty"])
        assert stats["a"] == {
            JobState.WAITING: 0,
            JobState.QUEUED: 1,
            JobState.SCHEDULED: 1,
            JobState.RUNNING: 1,
            JobState.SUCCEEDED: 1,
            JobState.FAILED: 0,
            JobState.CANCELLED: 0,
        }
        assert stats["b"][JobState.QUEUED] == 1
        assert sum(stats["empty"].values()) == 0
        everything = await backend.stats()
        assert {"a", "b"} <= set(everything)

    async def test_purge_deletes_by_state_and_age(self, backend: Backend) -> None:
        done, failed, queued = new_job(), new_job(), new_job(queue="q2")
        await backend.enqueue([done, failed])
        await backend.claim(["default"], 2, WORKER, 30)
        await backend.finish(
            [
                Outcome(done.id, 1, OutcomeKind.SUCCEEDED, result=b"1"),
                Outcome(failed.id, 1, OutcomeKind.FAILED, error=b"{}"),
            ]
        )
        await backend.enqueue([queued])
        now = await backend.now()
        assert await backend.purge([JobState.SUCCEEDED], finished_before=now - 60) == 0
        assert await backend.purge([JobState.SUCCEEDED], finished_before=now + 1) == 1
        assert await backend.purge([JobState.QUEUED], queue="other") == 0
        assert await backend.purge([JobState.QUEUED, JobState.FAILED]) == 2
        assert await backend.get([done.id, failed.id, queued.id]) == [None, None, None]
        assert sum((await backend.stats(["default"]))["default"].values()) == 0
