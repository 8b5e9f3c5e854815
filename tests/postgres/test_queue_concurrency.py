"""Per-queue concurrency inside one worker, on Postgres."""

from __future__ import annotations

from taskrunner import TaskRunner
from tests.queue_peaks import check_queue_peaks


async def test_peaks_hold_with_many_jobs_on_two_queues(pg_url: str) -> None:
    async with TaskRunner(pg_url) as runner:
        await check_queue_peaks(runner)
