"""An idle worker runs a job when it falls due, not at its next poll, on every backend.

The worker polls every 30 s; each job must start within a second and a half of its due time
(on the backend's clock): a delayed job, a retry after a fixed backoff and recurring ticks,
each written while the worker already waits.
"""

from __future__ import annotations

import anyio

from taskrunner import JobInfo, JobState, TaskRunner, current_job, every
from tests.helpers import eventually

POLL = 30.0
ON_TIME = 1.5  # slack after a due time, far below POLL: the wait ended by itself
TICKS = 2  # recurring runs to watch


def make_runner(url: str) -> TaskRunner:
    runner = TaskRunner(url)

    @runner.task(name="due.delayed")
    async def delayed() -> None:
        return None

    @runner.task(name="due.flaky", retries=1, backoff=1.0)
    async def flaky() -> None:
        if current_job().attempt == 1:
            raise RuntimeError("the first attempt fails")

    return runner


def make_ticking_runner(url: str) -> TaskRunner:
    """A runner of its own: its ticks would wake the other's worker every interval."""
    runner = TaskRunner(url)

    @runner.task(name="due.tick", queue="ticks", schedule=every(seconds=2))
    async def tick() -> None:
        return None

    return runner


def lateness(job: JobInfo | None) -> float:
    """Seconds from a finished job's (last) due time to the start of its last attempt."""
    assert job is not None and job.state is JobState.SUCCEEDED, job
    assert job.started_at is not None
    return (job.started_at - job.run_at).total_seconds()


async def one_at_a_time(runner: TaskRunner) -> list[JobInfo | None]:
    """A delayed job, then a job retried after a fixed backoff, each into an idle worker."""
    ids = []
    async with runner.worker(concurrency=4, poll=POLL):
        for task, delay in (("due.delayed", 0.7), ("due.flaky", 0.0)):
            await anyio.sleep(0.3)  # the worker has found nothing due and waits
            job = await runner.tasks[task].options(delay=delay).enqueue()
            with anyio.fail_after(POLL / 2):
                await job.result()
            ids.append(job.id)
    return await runner.get_jobs(ids)


async def recurring(runner: TaskRunner) -> list[JobInfo]:
    """The first recurring runs of an idle worker (its scheduler enqueues each tick ahead)."""

    async def ticks() -> list[JobInfo]:
        page = await runner.list_jobs(task="due.tick", state="succeeded", limit=TICKS)
        return page.jobs if len(page.jobs) == TICKS else []

    async with runner.worker(concurrency=4, poll=POLL):
        await eventually(ticks, timeout=POLL / 2)
    return await ticks()


async def check_jobs_start_when_due(url: str) -> None:
    async with make_runner(url) as runner:
        jobs = await one_at_a_time(runner)
    async with make_ticking_runner(url) as runner:
        jobs += await recurring(runner)
    late = [(job.task if job else None, lateness(job)) for job in jobs]
    assert all(seconds < ON_TIME for _, seconds in late), late


async def test_an_idle_worker_runs_jobs_when_due_in_memory() -> None:
    await check_jobs_start_when_due("memory://")


async def test_an_idle_worker_runs_jobs_when_due(shared_url: str) -> None:
    await check_jobs_start_when_due(shared_url)
