"""`Snooze` and the per-enqueue options `retries`, `timeout` and `expires`, through a worker,
on every backend."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskrunner import (
    AttemptOutcome,
    ConfigurationError,
    JobState,
    Snooze,
    TaskRunner,
    current_job,
)
from taskrunner.retry import MAX_SECONDS


@pytest.fixture
def runner(each_backend_runner: TaskRunner) -> TaskRunner:
    return each_backend_runner


async def test_a_task_that_snoozes_twice_then_succeeds(runner: TaskRunner) -> None:
    @runner.task(retries=0)
    async def poll() -> str:
        if current_job().attempt <= 2:
            raise Snooze(0.2)
        return "ready"

    job = await poll.enqueue()
    async with runner.worker(concurrency=2) as worker:
        assert await job.result(timeout=20) == "ready"
    assert (worker.counters.snoozed, worker.counters.released) == (2, 0)
    info = await runner.get_job(job.id)
    assert info.state is JobState.SUCCEEDED
    assert info.attempt == info.max_attempts == 3  # two attempts given back, none used
    snoozes = [a for a in info.attempts if a.outcome is AttemptOutcome.RELEASED]
    assert len(snoozes) == 2
    assert all(a.error is not None and a.error.message == "snoozed for 0.2s" for a in snoozes)


async def test_a_snoozed_job_is_scheduled_meanwhile(runner: TaskRunner) -> None:
    @runner.task()
    async def later() -> None:
        raise Snooze(timedelta(hours=1))

    job = await later.enqueue()
    async with runner.worker():
        for _ in range(200):
            info = await runner.get_job(job.id)
            if info.state is JobState.SCHEDULED:
                break
            await asyncio.sleep(0.05)
    assert info.state is JobState.SCHEDULED
    assert info.attempt == 1 and info.max_attempts == 5  # retries=3: 4, plus one given back
    assert info.run_at - info.enqueued_at >= timedelta(minutes=59)


async def test_options_retries_sets_the_attempts(runner: TaskRunner) -> None:
    @runner.task(retries=5)
    async def flaky() -> None:
        raise RuntimeError("no")

    job = await flaky.options(retries=0).enqueue()
    assert (await runner.get_job(job.id)).max_attempts == 1


async def test_options_timeout_travels_with_the_job(runner: TaskRunner) -> None:
    @runner.task(retries=0, timeout=60)
    async def slow() -> None:
        await asyncio.sleep(30)

    job = await slow.options(timeout=0.2).enqueue()
    async with runner.worker():
        with pytest.raises(Exception):  # noqa: B017, PT011 - JobFailed
            await job.result(timeout=20)
    info = await runner.get_job(job.id)
    assert info.state is JobState.FAILED
    assert info.error is not None
    # the job's own timeout, not the task's: the message names no task's setting
    assert info.error.message.startswith("the attempt ran longer than its timeout of 0.2s")


async def test_an_expired_job_is_cancelled_not_run(runner: TaskRunner) -> None:
    ran: list[int] = []

    @runner.task()
    async def report(n: int) -> None:
        ran.append(n)

    late = await report.options(expires=0.3, delay=0.8).enqueue(1)
    in_time = await report.options(expires=30, delay=0.1).enqueue(2)
    async with runner.worker():
        await in_time.result(timeout=20)
        for _ in range(200):
            info = await runner.get_job(late.id)
            if info.finished:
                break
            await asyncio.sleep(0.05)
    assert ran == [2]
    assert info.state is JobState.CANCELLED
    assert info.error is not None
    assert info.error.message == "expired: not started within 0.3s of its enqueue"


async def test_expires_at_a_datetime(runner: TaskRunner) -> None:
    @runner.task()
    async def noop() -> None:
        return None

    past = datetime.now(UTC) - timedelta(seconds=5)
    job = await noop.options(expires=past).enqueue()
    async with runner.worker():
        for _ in range(200):
            info = await runner.get_job(job.id)
            if info.finished:
                break
            await asyncio.sleep(0.05)
    assert info.state is JobState.CANCELLED
    assert info.error is not None and info.error.message.startswith("expired: not started by ")


@pytest.mark.parametrize(
    "options",
    [
        {"retries": -1},
        {"retries": True},
        {"retries": 1.5},
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": math.nan},
        {"timeout": math.inf},
        {"timeout": MAX_SECONDS + 1},
        {"expires": 0},
        {"expires": -5},
        {"expires": math.inf},
        {"expires": datetime(2030, 1, 1)},  # naive
        {"expires": "soon"},
    ],
)
async def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    runner = TaskRunner("memory://")

    @runner.task()
    async def noop() -> None:
        return None

    with pytest.raises(ConfigurationError):
        noop.options(**options)


@pytest.mark.parametrize("delay", [-1, math.nan, math.inf, MAX_SECONDS + 1, "5", True])
def test_snooze_refuses_bad_delays(delay: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"Snooze\(delay\)"):
        Snooze(delay)


async def test_the_last_progress_a_task_reports_is_kept(runner: TaskRunner) -> None:
    # a heartbeat carrying earlier progress may still be in flight when the task returns:
    # the last report must land after it, and before the outcome
    @runner.task()
    async def upload(n: int) -> None:
        job = current_job()
        for done in range(1, 6):
            job.report_progress(done, 5, f"part {done}")
            await asyncio.sleep(0)

    jobs = [await upload.enqueue(n) for n in range(30)]
    async with runner.worker(concurrency=10):
        for job in jobs:
            await job.result(timeout=30)
    for job in jobs:
        progress = (await runner.get_job(job.id)).progress
        assert progress is not None and (progress.done, progress.message) == (5, "part 5")
