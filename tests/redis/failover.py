"""What the failover tests share: enqueueing as an app would while Redis fails over, and
reading what became of the jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from taskrunner import BackendError, JobInfo, JobNotFound, TaskRunner
from tests.helpers import eventually

TASK = "failover.double"
SETTLE = 60.0  # seconds for anything to happen; reached only when something is broken


def doubling_runner(url: str) -> TaskRunner:
    """A runner with one task, TASK, that doubles its number."""
    runner = TaskRunner(url)

    @runner.task(name=TASK, retries=3)
    async def double(n: int) -> int:
        return 2 * n

    return runner


async def enqueue_until_stored(runner: TaskRunner, n: int, queue: str | None = None) -> str:
    """Enqueue TASK(n) (on `queue`), again after each BackendError, as an app would."""
    chosen = runner.tasks[TASK]
    if queue is not None:
        chosen = chosen.options(queue=queue)
    while True:
        try:
            return (await chosen.enqueue(n)).id
        except BackendError:
            await asyncio.sleep(0.2)


async def record(runner: TaskRunner, job_id: str) -> JobInfo | None:
    """The job, or None if no backend node has it (lost in a failover)."""
    try:
        return await runner.get_job(job_id)
    except JobNotFound:
        return None


async def all_finished(runner: TaskRunner, ids: list[str]) -> list[JobInfo]:
    """The jobs, once every one of them finished."""
    while True:
        records = [await runner.get_job(i) for i in ids]
        if all(r.state.finished for r in records):
            return records
        await asyncio.sleep(0.1)


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Until `condition` (a blocking check, run in a thread) holds; fail after SETTLE."""
    try:
        await eventually(lambda: asyncio.to_thread(condition), SETTLE)
    except TimeoutError:
        pytest.fail(f"gave up waiting for {what}")
