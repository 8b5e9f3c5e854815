"""Eager mode: an enqueue runs its job before it returns, through the real enqueue and the
real worker, so what would fail for real fails here too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskrunner import (
    ConfigurationError,
    InvalidArguments,
    JobFailed,
    JobState,
    PayloadTooLarge,
    SerializationError,
    State,
    TaskRunner,
    current_job,
)
from taskrunner.testing import DrainLimitExceeded, Harness, eager


async def test_an_enqueue_runs_the_job_and_what_it_enqueues(taskrunner_eager: TaskRunner) -> None:
    runner = taskrunner_eager
    sent: list[str] = []

    @runner.task
    async def welcome(email: str) -> str:
        await log_signup.enqueue(email)
        return f"welcome {email}"

    @runner.task
    def log_signup(email: str) -> None:  # a def task, in its thread
        sent.append(email)

    job = await welcome.enqueue("ada@example.com")
    assert (await job.info()).state is JobState.SUCCEEDED  # before enqueue returned
    assert sent == ["ada@example.com"]
    assert await job.result() == "welcome ada@example.com"


async def test_calls_that_would_fail_for_real_fail_eagerly(taskrunner_eager: TaskRunner) -> None:
    runner = taskrunner_eager

    @runner.task(retries=0)
    async def store(note: str) -> object:
        return {"at": datetime.now(UTC)} if note == "date" else note

    with pytest.raises(InvalidArguments, match="missing a required argument"):
        await store.enqueue()  # type: ignore[call-arg]
    with pytest.raises(SerializationError, match="cannot be sent as JSON"):
        await store.enqueue(datetime.now(UTC))  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLarge):
        await store.enqueue("x" * (runner.max_payload + 1))
    with pytest.raises(JobFailed, match="UnserializableResult: the task's return value"):
        await store.enqueue("date")  # a result that JSON cannot carry fails the job


async def test_retries_run_at_once_and_a_job_that_fails_raises(
    taskrunner_harness: Harness,
) -> None:
    harness = taskrunner_harness
    attempts: list[int] = []

    @harness.runner.task(retries=2, backoff=3600)
    async def flaky(fail_until: int) -> int:
        attempts.append(current_job().attempt)
        if current_job().attempt < fail_until:
            raise ConnectionError("not yet")
        return current_job().attempt

    start = harness.clock()
    async with harness.eager():
        assert await (await flaky.enqueue(3)).result() == 3
        with pytest.raises(JobFailed, match="ConnectionError: not yet") as failed:
            await flaky.enqueue(9)
    assert "raise ConnectionError" in failed.value.__notes__[0]  # the task's traceback
    assert attempts == [1, 2, 3, 1, 2, 3]
    assert harness.clock() == start  # no time passed: the backoff was skipped

    async with harness.eager(propagate=False):
        job = await flaky.enqueue(9)
    assert (await job.info()).state is JobState.FAILED


async def test_jobs_due_later_wait_for_the_clock(taskrunner_harness: Harness) -> None:
    harness = taskrunner_harness

    @harness.runner.task
    async def remind(user: str) -> str:
        return f"reminded {user}"

    async with harness.eager():
        job = await remind.options(delay=60).enqueue("ada")
        assert (await job.info()).state is JobState.SCHEDULED
        again = await remind.options(key="once").enqueue("bob")
        duplicate = await remind.options(key="once").enqueue("bob")
        assert duplicate.duplicate and duplicate.id == again.id
    report = await harness.advance(minutes=1)
    assert [a.job_id for a in report] == [job.id]
    await harness.assert_nothing_queued()


async def test_eager_mode_holds_the_resources_and_ends_cleanly() -> None:
    runner = TaskRunner("memory://")
    hooks: list[str] = []

    @runner.on_startup
    async def start(state: State) -> None:
        hooks.append("start")

    @runner.on_shutdown
    async def stop(state: State) -> None:
        hooks.append("stop")

    @runner.task
    async def noop(n: int) -> None:
        return None

    async with eager(runner):
        for n in range(3):
            await noop.enqueue(n)
        with pytest.raises(ConfigurationError, match="eager mode already"):
            async with eager(runner):
                pass
    assert hooks == ["start", "stop"]
    later = await noop.enqueue(9)  # eager mode is over: the job waits for a worker
    assert (await later.info()).state is JobState.QUEUED
    await runner.close()


async def test_eager_mode_leaves_the_runner_s_methods_alone() -> None:
    runner = TaskRunner("memory://")

    @runner.task
    async def noop(n: int) -> int:
        return n

    store = runner.enqueue_many  # taken before eager mode starts, as a framework may
    async with eager(runner):
        assert "enqueue_many" not in vars(runner)
        (job,) = await store([noop.prepare(1)])
        assert (await job.info()).state is JobState.SUCCEEDED
    (later,) = await store([noop.prepare(2)])
    assert (await later.info()).state is JobState.QUEUED
    await runner.close()


async def test_an_endless_loop_in_eager_mode_is_stopped(taskrunner_harness: Harness) -> None:
    @taskrunner_harness.runner.task
    async def again_and_again(n: int) -> None:
        await again_and_again.enqueue(n + 1)

    async with taskrunner_harness.eager(limit=30):
        with pytest.raises(DrainLimitExceeded):
            await again_and_again.enqueue(0)
