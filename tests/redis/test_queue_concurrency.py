"""Per-queue concurrency inside one worker, on Redis."""

from __future__ import annotations

from taskrunner import TaskRunner
from tests.queue_peaks import check_queue_peaks


async def test_peaks_hold_with_many_jobs_on_two_queues(redis_url: str) -> None:
    async with TaskRunner(redis_url) as runner:
        await check_queue_peaks(runner)
