"""Each attempt runs in an asyncio task of its own, whatever makes the task (the worker
itself on a plain loop, or the loop's task factory): a job that suspends, one that never
does, one that raises, one cut short by a timeout it entered before its first suspension,
and the context variables each job sets, which no other job sees. These are what a cheaper
way to start jobs (an eager first step, see docs/benchmarks.md) would have to keep."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from taskrunner import JobFailed, JobState, TaskRunner, current_job
from tests.helpers import drain, runner_on

seen_value: contextvars.ContextVar[str] = contextvars.ContextVar("seen_value", default="unset")


@pytest.fixture(params=[False, True], ids=["plain-loop", "task-factory"])
async def runner(request: pytest.FixtureRequest) -> AsyncIterator[TaskRunner]:
    loop = asyncio.get_running_loop()
    if request.param:
        loop.set_task_factory(
            lambda loop, coro, **options: asyncio.Task(coro, loop=loop, **options)
        )
    try:
        yield runner_on()
    finally:
        loop.set_task_factory(None)


async def test_a_job_that_suspends_keeps_its_own_task_and_ends(runner: TaskRunner) -> None:
    tasks: list[tuple[asyncio.Task[Any] | None, asyncio.Task[Any] | None]] = []

    @runner.task
    async def fetch(n: int) -> int:
        before = asyncio.current_task()
        await anyio.sleep(0.01)
        tasks.append((before, asyncio.current_task()))
        return n * 2

    jobs = await runner.enqueue_many(fetch.prepare(n) for n in range(5))
    await drain(runner)
    assert [await job.result(timeout=1) for job in jobs] == [0, 2, 4, 6, 8]
    assert all(before is after and before is not None for before, after in tasks)
    assert len({id(before) for before, _ in tasks}) == 5  # one task per job


async def test_jobs_that_never_suspend_each_end_with_their_result(runner: TaskRunner) -> None:
    names: list[tuple[str, str]] = []

    @runner.task
    async def add(a: int, b: int) -> int:
        task = asyncio.current_task()
        assert task is not None
        names.append((task.get_name(), current_job().id))
        return a + b

    jobs = await runner.enqueue_many(add.prepare(n, 1) for n in range(60))
    await drain(runner, concurrency=50)  # more than one claim's worth
    assert [await job.result(timeout=1) for job in jobs] == [n + 1 for n in range(60)]
    assert all(name == job_id for name, job_id in names)


async def test_a_job_that_raises_before_suspending_fails_and_the_worker_carries_on(
    runner: TaskRunner,
) -> None:
    @runner.task(retries=0)
    async def broken() -> None:
        raise ValueError("no feed")

    @runner.task
    async def fine() -> str:
        return "ok"

    failing = await broken.enqueue()
    after = await fine.enqueue()
    await drain(runner)
    with pytest.raises(JobFailed) as failed:
        await failing.result(timeout=1)
    assert failed.value.error is not None and failed.value.error.type == "ValueError"
    assert await after.result(timeout=1) == "ok"


async def test_a_timeout_entered_before_the_first_suspension_cancels_only_its_job(
    runner: TaskRunner,
) -> None:
    @runner.task(retries=0)
    async def hangs() -> None:
        async with asyncio.timeout(0.05):  # entered at once: bound to the job's own task
            await anyio.sleep(60)

    @runner.task(timeout=0.05, retries=0)
    async def outlives() -> None:
        await anyio.sleep(60)

    @runner.task
    async def fine() -> str:
        await anyio.sleep(0.2)  # still running when the others time out
        return "ok"

    own, limited = await hangs.enqueue(), await outlives.enqueue()
    after = await fine.enqueue()
    await drain(runner)
    assert (await runner.get_job(own.id)).state is JobState.FAILED
    own_error = (await runner.get_job(own.id)).error
    assert own_error is not None and own_error.type == "TimeoutError"
    limited_error = (await runner.get_job(limited.id)).error
    assert limited_error is not None and limited_error.type == "taskrunner.errors.TaskTimeout"
    assert await after.result(timeout=1) == "ok"


async def test_context_variables_set_by_a_job_stay_in_that_job(runner: TaskRunner) -> None:
    seen: list[tuple[int, str, str]] = []

    @runner.task
    async def mark(n: int, suspend: bool) -> None:
        before = seen_value.get()
        seen_value.set(f"job {n}")
        if suspend:
            await anyio.sleep(0.01)
        seen.append((n, before, seen_value.get()))

    seen_value.set("the worker's")
    await runner.enqueue_many(mark.prepare(n, n % 2 == 0) for n in range(20))
    await drain(runner)
    assert sorted(seen) == [(n, "the worker's", f"job {n}") for n in range(20)]
    assert seen_value.get() == "the worker's"
