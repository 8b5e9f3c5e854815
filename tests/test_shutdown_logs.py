"""A stop that puts running jobs back logs no asyncio error (found by the docs' examples)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from taskrunner import JobState, TaskRunner


async def test_putting_jobs_back_logs_no_unretrieved_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = TaskRunner("memory://")

    @runner.task
    async def slow() -> None:
        await asyncio.sleep(5)

    job = await slow.enqueue()
    async with runner.worker(grace=0.05):
        while (await job.info()).state is not JobState.RUNNING:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await asyncio.sleep(0)
    gc.collect()
    assert (await job.info()).state is JobState.QUEUED  # put back
    assert "never retrieved" not in caplog.text
