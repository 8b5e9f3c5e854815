"""The worker when tasks or its own heartbeats misbehave (memory backend, in process): an
attempt claimed again by its own worker, tasks raising `BaseException`s or `CancelledError`,
`def` tasks outliving their timeout, progress from threads, huge exception messages."""

from __future__ import annotations

import json
import logging

import pytest

from taskrunner import JobState, current_job
from taskrunner.execution import TRACEBACK_LIMIT
from taskrunner.job import MESSAGE_LIMIT, JobError
from taskrunner.logs import JsonFormatter
from tests.helpers import drain, runner_on

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
