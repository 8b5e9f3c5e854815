"""The worker when tasks or its own heartbeats misbehave (memory backend, in process): an
attempt claimed again by its own worker, tasks raising `BaseException`s or `CancelledError`,
`def` tasks outliving their timeout, progress from threads, huge exception messages."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Sequence

import anyio
import anyio.to_thread
import pytest

from taskrunner import JobState, Task, current_job
from taskrunner.backend import Beat, LeaseStatus
from taskrunner.execution import TRACEBACK_LIMIT
from taskrunner.job import MESSAGE_LIMIT, JobError
from taskrunner.logs import JsonFormatter
from taskrunner.memory import MemoryBackend
from tests.helpers import drain, eventually, runner_on

# -- item 1: a worker that claims its own job again ----------------------------------------


class StallingBackend(MemoryBackend):
    """Heartbeats stall while `path_open` is clear (a slow network path); a stalled one
    then answers late or, with `fail_stalled`, fails."""

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


@pytest.mark.parametrize("fail_stalled", [False, True], ids=["late-answer", "failed-beat"])
async def test_a_job_claimed_again_by_its_own_worker_runs_once_more_and_succeeds(
    fail_stalled: bool,
) -> None:
    backend = StallingBackend(fail_stalled=fail_stalled)
    runner = runner_on(backend)
    lease = 0.5
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
        backend.path_open.set()
        await eventually(lambda: ended == [1])  # the stale attempt is stopped
        await anyio.sleep(4 * lease)  # the new attempt's lease must be renewed meanwhile
        release.set()
        assert await job.result(timeout=5) == "synced"
    assert runs == [1, 2] and ended == [1, 2]
    info = await runner.get_job(job.id)
    assert (info.state, info.attempt) == (JobState.SUCCEEDED, 2)
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
    assert first.type == "taskrunner.execution.StrayCancellation"
    assert "raised CancelledError although the worker did not cancel it" in first.message
    assert "the inner request was cancelled" in first.message
    assert "CancelledError" in first.traceback
    assert any("StrayCancellation" in r.getMessage() for r in caplog.records)


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
