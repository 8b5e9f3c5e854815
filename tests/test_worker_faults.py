"""The worker when tasks or its own heartbeats misbehave (memory backend, in process): an
attempt claimed again by its own worker, tasks raising `BaseException`s or `CancelledError`,
`def` tasks outliving their timeout, progress from threads, huge exception messages."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
from collections.abc import Sequence

import anyio
import anyio.to_thread
import pytest

from taskrunner import JobState, Task, current_job
from taskrunner.backend import Beat, JobRecord, LeaseStatus
from taskrunner.errors import JobError
from taskrunner.job import MESSAGE_LIMIT
from taskrunner.memory import MemoryBackend
from taskrunner.telemetry.logs import JsonFormatter
from taskrunner.worker.execution import TRACEBACK_LIMIT
from tests.helpers import drain, eventually, runner_on

# -- item 1: a worker that claims its own job again ----------------------------------------


class StallingBackend(MemoryBackend):
    """Heartbeats stall while `path_open` is clear (a slow network path); a stalled one
    then answers late or, with `fail_stalled`, fails. The path opens again as soon as a job
    is claimed for a second attempt, so the new attempt's lease is renewed from its start."""

    def __init__(self, *, fail_stalled: bool) -> None:
        super().__init__()
        self.path_open = asyncio.Event()
        self.path_open.set()
        self.fail_stalled = fail_stalled

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        if not self.path_open.is_set():
            await self.path_open.wait()
            if self.fail_stalled:
                raise ConnectionError("the heartbeat timed out")
        return await super().heartbeat(beats, lease)

    async def claim(
        self, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        records = await super().claim(queues, limit, worker, lease)
        if any(record.attempt > 1 for record in records):
            self.path_open.set()
        return records


@pytest.mark.parametrize("fail_stalled", [False, True], ids=["late-answer", "failed-beat"])
async def test_a_job_claimed_again_by_its_own_worker_runs_once_more_and_succeeds(
    fail_stalled: bool,
) -> None:
    backend = StallingBackend(fail_stalled=fail_stalled)
    runner = runner_on(backend)
    lease = 1.0
    runs: list[int] = []
    ended: list[int] = []
    never, release = anyio.Event(), anyio.Event()

    @runner.task(retries=5, backoff=0)
    async def sync_account() -> str:
        attempt = current_job().attempt
        runs.append(attempt)
        try:
            await (never if attempt == 1 else release).wait()
        finally:
            ended.append(attempt)
        return "synced"

    job = await sync_account.enqueue()
    settings = {"lease": lease, "heartbeat": 0.05, "reclaim_interval": 0.05, "concurrency": 2}
    async with runner.worker(**settings) as worker:
        await eventually(lambda: runs == [1])
        backend.path_open.clear()  # beats stall: the lease runs out, the job is put back
        await eventually(lambda: runs == [1, 2])  # ...and this worker claims it again
        await eventually(lambda: ended == [1])  # the stale attempt is stopped
        await anyio.sleep(4 * lease)  # the new attempt's lease must be renewed meanwhile
        release.set()
        assert await job.result(timeout=5) == "synced"
    assert runs == [1, 2] and ended == [1, 2]
    info = await runner.get_job(job.id)
    assert (info.state, info.attempt) == (JobState.SUCCEEDED, 2)
    assert worker.counters.lost == 1


async def test_a_def_task_claimed_again_starts_only_once_its_stale_attempt_returned() -> None:
    backend = StallingBackend(fail_stalled=True)
    runner = runner_on(backend)
    calls: list[int] = []
    stale_may_return = threading.Event()

    @runner.task(retries=5, backoff=0)
    def reindex() -> int:
        attempt = current_job().attempt
        calls.append(attempt)
        if attempt == 1:
            stale_may_return.wait(30)
        return attempt

    job = await reindex.enqueue()
    settings = {"lease": 0.5, "heartbeat": 0.05, "reclaim_interval": 0.05, "concurrency": 2}
    async with runner.worker(**settings) as worker:
        try:
            await eventually(lambda: calls == [1])
            backend.path_open.clear()
            await eventually(lambda: worker.counters.started == 2)  # claimed again
            backend.path_open.set()
            await anyio.sleep(0.5)
            assert calls == [1]  # the new attempt waits: the stale one's function still runs
        finally:
            stale_may_return.set()
        assert await job.result(timeout=5) == 2
    assert calls == [1, 2]
    assert worker.counters.lost == 1


# -- items 2 and 3: BaseExceptions and CancelledError raised by a task ---------------------


async def test_a_task_raising_system_exit_or_keyboard_interrupt_fails_not_the_worker() -> None:
    runner = runner_on()
    release = anyio.Event()

    @runner.task
    def parse(argv: list[str]) -> int:
        parser = argparse.ArgumentParser(prog="resize")
        parser.add_argument("--width", type=int, required=True)
        return int(parser.parse_args(argv).width)

    @runner.task
    async def quits() -> None:
        raise SystemExit(0)

    @runner.task
    def interrupted() -> None:
        raise KeyboardInterrupt("stop here")

    @runner.task
    async def beside() -> str:
        await release.wait()
        return "finished"

    running_beside = await beside.enqueue()
    bad_input = await parse.enqueue(["--width", "wide"])
    exit_zero = await quits.enqueue()
    interrupt = await interrupted.enqueue()
    async with runner.worker() as worker:
        await eventually(lambda: worker.counters.failed == 3, timeout=5)
        release.set()
        assert await running_beside.result(timeout=5) == "finished"
        good = await parse.enqueue(["--width", "640"])
        assert await good.result(timeout=5) == 640  # the worker still takes work
    errors = {}
    for name, job in (("parse", bad_input), ("quits", exit_zero), ("interrupt", interrupt)):
        info = await runner.get_job(job.id)
        assert info.state is JobState.FAILED and info.attempt == 1  # not in retry_on
        assert info.error is not None
        errors[name] = (info.error.type, info.error.message)
    assert errors == {
        "parse": ("SystemExit", "2"),
        "quits": ("SystemExit", "0"),
        "interrupt": ("KeyboardInterrupt", "stop here"),
    }


async def test_a_base_exception_in_retry_on_is_retried() -> None:
    runner = runner_on()

    @runner.task(retries=1, backoff=0, retry_on=(Exception, SystemExit))
    async def flaky_cli() -> str:
        if current_job().attempt == 1:
            raise SystemExit(3)
        return "ok"

    job = await flaky_cli.enqueue()
    await drain(runner)
    assert await job.result(timeout=1) == "ok"
    info = await runner.get_job(job.id)
    assert info.attempts[0].error is not None and info.attempts[0].error.type == "SystemExit"


@pytest.mark.parametrize("in_thread", [False, True], ids=["async", "def"])
async def test_a_cancelled_error_the_task_raises_itself_is_a_failed_attempt(
    in_thread: bool, caplog: pytest.LogCaptureFixture
) -> None:
    runner = runner_on()

    def outcome() -> str:
        if current_job().attempt == 1:
            raise asyncio.CancelledError("the inner request was cancelled")
        return "fetched"

    async def fetch() -> str:
        return outcome()

    task: Task[[], str] = runner.task(retries=1, backoff=0, name="fetch")(
        outcome if in_thread else fetch
    )
    job = await task.enqueue()
    with caplog.at_level(logging.INFO, logger="taskrunner.job"):
        await drain(runner)
    info = await runner.get_job(job.id)
    assert (info.state, info.attempt) == (JobState.SUCCEEDED, 2)  # retried by its policy
    first = info.attempts[0].error
    assert first is not None
    assert first.type == "taskrunner.errors.StrayCancellation"
    assert "raised CancelledError although the worker did not cancel it" in first.message
    assert "the inner request was cancelled" in first.message
    assert "CancelledError" in first.traceback
    assert any("StrayCancellation" in r.getMessage() for r in caplog.records)


# -- item 4: `timeout=` on `def` tasks -----------------------------------------------------


class Overlaps:
    """Counts how many calls of a `def` task run at once, in all and per job."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.most_in_all = 0
        self.most_per_job = 0

    def enter(self, job_id: str) -> None:
        with self.lock:
            self.now[job_id] = self.now.get(job_id, 0) + 1
            self.most_per_job = max(self.most_per_job, self.now[job_id])
            self.most_in_all = max(self.most_in_all, sum(self.now.values()))

    def leave(self, job_id: str) -> None:
        with self.lock:
            self.now[job_id] -= 1


async def test_a_def_task_past_its_timeout_keeps_its_slot_until_its_function_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = runner_on()
    overlaps = Overlaps()
    unblock = threading.Event()

    @runner.task(timeout=0.05, retries=2, backoff=0)
    def export(n: int) -> None:
        job_id = current_job().id
        overlaps.enter(job_id)
        try:
            unblock.wait(1.0)  # more than one lease past the timeout
        finally:
            overlaps.leave(job_id)

    jobs = await runner.enqueue_many(export.prepare(n) for n in range(3))
    try:
        with caplog.at_level(logging.WARNING, logger="taskrunner.job"):
            # a lease of 12 beats: a loaded machine may starve the loop for a few of them
            await drain(runner, concurrency=2, lease=0.6, heartbeat=0.05, reclaim_interval=0.05)
    finally:
        unblock.set()
    assert overlaps.most_per_job == 1  # never two attempts of one job at once
    assert overlaps.most_in_all == 2  # never more threads than slots
    for info in await runner.get_jobs([job.id for job in jobs]):
        assert info is not None and info.state is JobState.FAILED and info.attempt == 3
        assert info.error is not None and info.error.type == "taskrunner.errors.TaskTimeout"
        assert [a.outcome.value for a in info.attempts] == ["retry", "retry", "failed"]  # none lost
    assert any("waits until the function returns" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("timeout", [None, 0.05], ids=["running", "timed-out"])
async def test_a_stop_does_not_wait_past_grace_for_a_def_task_that_never_returns(
    timeout: float | None,
) -> None:
    runner = runner_on()
    unblock = threading.Event()

    @runner.task(timeout=timeout, retries=0)
    def stuck() -> None:
        unblock.wait(30)

    job = await stuck.enqueue()
    try:
        with anyio.fail_after(10):
            async with runner.worker(grace=0.3) as worker:
                await eventually(lambda: worker.running == 1)
                await anyio.sleep(0.2)
        info = await runner.get_job(job.id)
    finally:
        unblock.set()
    if timeout is None:  # put back, as any job still running at the end of grace
        assert (info.state, info.attempt, worker.counters.released) == (JobState.QUEUED, 1, 1)
    else:  # its attempt had timed out already: that is what is recorded
        assert info.state is JobState.FAILED
        assert info.error is not None and "TaskTimeout" in info.error.type


async def test_a_running_def_task_asked_to_cancel_ends_cancelled_once_its_function_returns() -> (
    None
):
    runner = runner_on()
    started, unblock = threading.Event(), threading.Event()

    @runner.task
    def crunch() -> None:
        started.set()
        unblock.wait(30)

    job = await crunch.enqueue()
    async with runner.worker(heartbeat=0.02, lease=1) as worker:
        try:
            await anyio.to_thread.run_sync(started.wait, 5)
            await job.cancel()
            await anyio.sleep(0.2)  # several heartbeats: the function still runs
            assert worker.running == 1
            assert (await runner.get_job(job.id)).state is JobState.RUNNING
        finally:
            unblock.set()
        await eventually(lambda: worker.counters.cancelled == 1)
    assert (await runner.get_job(job.id)).state is JobState.CANCELLED


# -- item 8: progress from `def` tasks -----------------------------------------------------


class ProgressWatch(MemoryBackend):
    """Sets `stored` (a thread event) when a heartbeat brings progress."""

    def __init__(self) -> None:
        super().__init__()
        self.stored = threading.Event()

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        statuses = await super().heartbeat(beats, lease)
        if any(beat.progress is not None for beat in beats):
            self.stored.set()
        return statuses


async def test_progress_from_a_def_task_is_stored_at_once_by_an_idle_worker() -> None:
    backend = ProgressWatch()
    runner = runner_on(backend)
    unblock = threading.Event()

    @runner.task
    def import_rows() -> None:
        unblock.wait(0.5)  # the worker is idle by now: its heartbeat waits for 20 s
        current_job().report_progress(1, 10, "first row imported")
        unblock.wait(30)

    await import_rows.enqueue()
    async with runner.worker(lease=60, poll=30, reclaim_interval=30):  # beats every 20 s
        try:
            # wait in a thread: nothing of the test's own wakes the event loop meanwhile
            stored = await anyio.to_thread.run_sync(backend.stored.wait, 3.0)
        finally:
            unblock.set()
    assert stored


# -- item 14: huge exception messages ------------------------------------------------------


async def test_a_huge_exception_message_is_cut_in_the_record_and_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = runner_on()
    huge = "row 1 is broken: " + "x" * 5_000_000

    @runner.task(retries=1, backoff=0)
    async def load_rows() -> None:
        raise ValueError(huge)

    job = await load_rows.enqueue()
    with caplog.at_level(logging.INFO, logger="taskrunner"):
        await drain(runner)
    info = await runner.get_job(job.id)
    assert info.state is JobState.FAILED
    for error in [info.error, *(a.error for a in info.attempts)]:
        assert isinstance(error, JobError)
        assert len(error.message) <= MESSAGE_LIMIT
        assert error.message.startswith("row 1 is broken: xxx")
        assert f"of {len(huge)} characters cut" in error.message
        assert len(error.traceback) <= TRACEBACK_LIMIT
        assert "in load_rows" in error.traceback  # the frames are kept, not just the message
    formatter = JsonFormatter()
    for record in caplog.records:
        assert len(record.getMessage()) < 2 * MESSAGE_LIMIT
        assert len(formatter.format(record)) < 4 * MESSAGE_LIMIT
    assert any(f"of {len(huge)} characters cut" in r.getMessage() for r in caplog.records)
    assert json.loads(formatter.format(caplog.records[-1]))


async def test_a_long_progress_message_is_cut() -> None:
    runner = runner_on()

    @runner.task
    async def import_rows() -> None:
        current_job().report_progress(1, 2, "y" * 1_000_000)

    job = await import_rows.enqueue()
    await drain(runner)
    progress = (await runner.get_job(job.id)).progress
    assert progress is not None and progress.message is not None
    assert len(progress.message) <= MESSAGE_LIMIT
    assert progress.message.startswith("yyy") and "of 1000000 characters cut" in progress.message
