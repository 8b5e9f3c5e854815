"""Outcome hooks: on_success, on_retry and on_failure, per task and per runner, called once
the outcome is recorded; a hook that raises changes nothing."""

from __future__ import annotations

import logging
import threading

import anyio
import pytest

from taskrunner import (
    AttemptEnded,
    ConfigurationError,
    HookKind,
    JobState,
    Snooze,
    TaskRunner,
    current_job,
)
from taskrunner.backend import NewJob, Outcome, OutcomeKind, new_job_id
from taskrunner.memory import MemoryBackend
from taskrunner.worker.outbox import Outbox
from tests.helpers import drain, eventually, runner_on


async def test_task_hooks_get_the_job_as_recorded_and_the_exception() -> None:
    runner = runner_on()
    seen: list[tuple[HookKind, AttemptEnded, JobState]] = []

    async def remember(ended: AttemptEnded) -> None:
        stored = await runner.get_job(ended.job.id)  # the outcome is recorded already
        seen.append((ended.kind, ended, stored.state))

    @runner.task(name="h.flaky", retries=1, backoff=0, on_retry=remember, on_success=remember)
    async def flaky(n: int) -> int:
        if current_job().attempt == 1:
            raise ValueError(f"not yet {n}")
        return n * 2

    @runner.task(name="h.doomed", retries=0, on_failure=remember, on_success=remember)
    async def doomed() -> None:
        raise KeyError("gone")

    flaky_job = await flaky.enqueue(21)
    doomed_job = await doomed.enqueue()
    await drain(runner)

    by_kind = {kind: (ended, state) for kind, ended, state in seen}
    assert set(by_kind) == set(HookKind)
    retried, state = by_kind[HookKind.RETRY]
    assert retried.job.id == flaky_job.id and retried.job.attempt == 1
    assert state is JobState.QUEUED and retried.job.state is JobState.QUEUED
    assert isinstance(retried.exception, ValueError) and str(retried.exception) == "not yet 21"
    assert retried.retry_in == 0 and retried.error is not None
    assert retried.error.type == "ValueError"
    succeeded, state = by_kind[HookKind.SUCCESS]
    assert succeeded.job.id == flaky_job.id and succeeded.job.attempt == 2
    assert state is JobState.SUCCEEDED and succeeded.job.result == 42
    assert succeeded.exception is None and succeeded.retry_in is None
    assert succeeded.error is None  # the first attempt's error is not the success's
    assert succeeded.job.worker == succeeded.worker != ""
    failed, state = by_kind[HookKind.FAILURE]
    assert failed.job.id == doomed_job.id and state is JobState.FAILED
    assert isinstance(failed.exception, KeyError)
    assert failed.error is not None and failed.error.type == "KeyError"
    assert failed.tags == {
        "taskrunner.job_id": doomed_job.id,
        "taskrunner.task": "h.doomed",
        "taskrunner.queue": "default",
        "taskrunner.attempt": "1/1",
        "taskrunner.outcome": "failure",
    }


async def test_hooks_added_while_a_worker_runs_are_called_for_the_jobs_after() -> None:
    """A worker works out a task's hooks once, and again once the runner's hooks change."""
    runner = runner_on()
    seen: list[tuple[str, int]] = []

    @runner.task(name="h.counted")
    async def counted(n: int) -> int:
        return n

    async with runner.worker(concurrency=1):
        await (await counted.enqueue(1)).result(timeout=10)

        @runner.on_success
        async def first(ended: AttemptEnded) -> None:
            seen.append(("first", ended.job.result))

        await (await counted.enqueue(2)).result(timeout=10)
        await eventually(lambda: seen == [("first", 2)])

        @runner.on_success
        def second(ended: AttemptEnded) -> None:  # a plain function: in a thread
            seen.append(("second", ended.job.result))

        await (await counted.enqueue(3)).result(timeout=10)
        await eventually(lambda: len(seen) == 3)
    assert seen == [("first", 2), ("first", 3), ("second", 3)]


async def test_runner_hooks_follow_the_task_hook_and_plain_functions_run_in_threads() -> None:
    runner = runner_on()
    calls: list[tuple[str, str, bool]] = []
    loop_thread = threading.get_ident()

    def task_hook(ended: AttemptEnded) -> None:
        calls.append(("task", ended.job.task, threading.get_ident() != loop_thread))

    @runner.on_failure
    def first(ended: AttemptEnded) -> None:
        calls.append(("runner 1", ended.job.task, threading.get_ident() != loop_thread))

    @runner.on_failure
    async def second(ended: AttemptEnded) -> None:
        calls.append(("runner 2", ended.job.task, threading.get_ident() != loop_thread))

    @runner.task(name="h.broken", retries=0, on_failure=task_hook)
    def broken() -> None:
        raise RuntimeError("no")

    @runner.task(name="h.fine")
    def fine() -> None:
        return None

    await broken.enqueue()
    await fine.enqueue()
    await drain(runner)
    assert calls == [
        ("task", "h.broken", True),
        ("runner 1", "h.broken", True),
        ("runner 2", "h.broken", False),
    ]


async def test_a_hook_that_raises_is_logged_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = runner_on()
    later: list[str] = []

    def sync_boom(ended: AttemptEnded) -> None:
        raise RuntimeError("the pager is down")

    async def async_boom(ended: AttemptEnded) -> None:
        raise SystemExit("a hook that exits")

    @runner.on_success
    async def after(ended: AttemptEnded) -> None:
        later.append(ended.job.id)

    @runner.task(name="h.ok", on_success=sync_boom)
    async def ok(n: int) -> int:
        return n

    @runner.task(name="h.fails", retries=0, on_failure=async_boom)
    async def fails() -> None:
        raise ValueError("bad")

    with caplog.at_level(logging.ERROR, logger="taskrunner.hooks"):
        jobs = [await ok.enqueue(n) for n in range(3)]
        failing = await fails.enqueue()
        await drain(runner)
    for job in jobs:
        assert (await runner.get_job(job.id)).state is JobState.SUCCEEDED
    assert (await runner.get_job(failing.id)).state is JobState.FAILED
    assert sorted(later) == sorted(job.id for job in jobs)  # the next hook still ran
    messages = [r.getMessage() for r in caplog.records]
    assert sum("on_success hook" in m and "raised" in m for m in messages) == 3
    assert any(f"job {failing.id} (h.fails): its on_failure hook" in m for m in messages)
    assert any("the pager is down" in (r.exc_text or "") for r in caplog.records)


async def test_a_job_that_cannot_run_reaches_the_runner_failure_hooks() -> None:
    runner = runner_on()
    seen: list[AttemptEnded] = []
    runner.on_failure(seen.append)

    @runner.task(name="h.known")
    async def known() -> None:
        return None

    job_id = new_job_id()
    await runner.backend.enqueue([NewJob(job_id, "h.unknown", "default", b'{"args":[]}')])
    await drain(runner)
    (ended,) = seen
    assert ended.job.id == job_id and ended.exception is None
    assert ended.error is not None and ended.error.type == "UnknownTask"


async def test_snoozes_and_cancels_call_no_hook_and_a_stopping_worker_waits_for_hooks() -> None:
    runner = TaskRunner(backend=MemoryBackend())
    kinds: list[HookKind] = []

    async def slow(ended: AttemptEnded) -> None:
        await anyio.sleep(0.05)  # still running when the burst worker has nothing left
        kinds.append(ended.kind)

    runner.on_success(slow)
    runner.on_failure(slow)
    runner.on_retry(slow)

    @runner.task(name="h.poll", retries=0)
    async def poll() -> str:
        if current_job().attempt == 1:
            raise Snooze(0)
        return "ready"

    await poll.enqueue()
    cancelled = await poll.options(delay=60).enqueue()
    await runner.cancel(cancelled.id)
    await drain(runner)
    assert kinds == [HookKind.SUCCESS]  # one, after the snooze; none for the cancel


def test_a_hook_must_be_callable() -> None:
    runner = runner_on()
    with pytest.raises(ConfigurationError, match="on_failure= takes a function"):

        @runner.task(name="h.bad", on_failure="pager")  # type: ignore[call-overload, untyped-decorator]
        async def bad() -> None:
            return None

    with pytest.raises(ConfigurationError, match="on_retry takes a function"):
        runner.on_retry(42)  # type: ignore[arg-type]


async def test_an_outcome_the_backend_refuses_calls_no_hook() -> None:
    backend = MemoryBackend()
    await backend.connect()
    job = NewJob(new_job_id(), "h.any", "default", b'{"args":[]}', max_attempts=3)
    await backend.enqueue([job])
    (record,) = await backend.claim(["default"], 1, "worker-a", 30)
    outbox, called = Outbox(), []
    stale = Outcome(record.id, record.attempt + 1, OutcomeKind.SUCCEEDED)  # owns nothing
    outbox.add(stale, lambda: called.append("stale"))
    outbox.add(Outcome(record.id, record.attempt, OutcomeKind.FAILED), lambda: called.append("ok"))
    assert await outbox.flush_once(backend) == 1  # one rejected
    assert called == ["ok"] and outbox.then == {}


async def test_a_stopping_worker_leaves_a_hook_that_hangs_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = runner_on()
    entered, release = threading.Event(), threading.Event()

    def hangs(ended: AttemptEnded) -> None:
        entered.set()
        release.wait(60)

    @runner.task(name="h.quick", on_success=hangs)
    async def quick() -> None:
        return None

    await quick.enqueue()
    try:
        with anyio.fail_after(30), caplog.at_level(logging.WARNING, logger="taskrunner.hooks"):
            async with runner.worker(grace=0.05):
                await eventually(entered.is_set)
        assert any("cancelling 1 outcome hooks" in r.getMessage() for r in caplog.records)
    finally:
        release.set()
