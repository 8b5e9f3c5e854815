"""One log line per job state change, with fields; JSON on request; no argument values."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from taskrunner import current_job
from taskrunner.telemetry.logs import JsonFormatter, job_event
from taskrunner.testing import new_job
from tests.helpers import drain, runner_on

REPO = Path(__file__).resolve().parent.parent


async def test_each_state_change_is_one_line_with_fields(caplog: pytest.LogCaptureFixture) -> None:
    runner = runner_on()

    @runner.task(retries=1, backoff=0)
    async def flaky(secret: str) -> None:
        if current_job().attempt == 1:
            raise ConnectionError("upstream closed")

    job = await flaky.enqueue("hunter2-in-the-arguments")
    with caplog.at_level(logging.INFO, logger="taskrunner.job"):
        await drain(runner)
    lines = [r for r in caplog.records if getattr(r, "job_id", None) == job.id]
    assert [r.__dict__["state"] for r in lines] == ["running", "scheduled", "running", "succeeded"]
    retry = lines[1]
    assert (retry.__dict__["attempt"], retry.__dict__["error_type"]) == (1, "ConnectionError")
    assert retry.__dict__["delay"] == 0 and retry.__dict__["duration"] >= 0
    assert lines[3].__dict__["task"] == flaky.name and lines[3].__dict__["queue"] == "default"
    assert "hunter2" not in caplog.text  # argument values are never logged


def test_json_formatter_writes_job_fields() -> None:
    logger = logging.getLogger("taskrunner.test-json")
    record = logger.makeRecord(
        logger.name,
        logging.WARNING,
        __file__,
        1,
        "job %s failed",
        ("abc",),
        None,
        extra={"job_id": "abc", "attempt": 2, "error_type": "ValueError"},
    )
    data = orjson.loads(JsonFormatter().format(record))
    assert data["message"] == "job abc failed" and data["level"] == "warning"
    assert (data["job_id"], data["attempt"], data["error_type"]) == ("abc", 2, "ValueError")
    assert data["time"].endswith("+00:00")


def test_job_event_respects_the_level() -> None:
    from taskrunner.backend import JobRecord, JobState

    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger = logging.getLogger("taskrunner.test-level")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    job = new_job()
    record = JobRecord(
        job.id, job.task, job.queue, job.payload, JobState.RUNNING, 0, 1, 3, 0.0, 0.0
    )
    try:
        job_event(logger, logging.INFO, record, "running")
        assert seen == []
        job_event(logger, logging.WARNING, record, "failed", "ValueError: boom")
        (line,) = seen
        assert (
            line.getMessage() == f"job {job.id} ({job.task}) failed, attempt 1/3: ValueError: boom"
        )
    finally:
        logger.removeHandler(handler)


def test_taskrunner_run_writes_json_lines(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskrunner",
            "run",
            "tests.apps.burst:runner",
            "--burst",
            "--log-format",
            "json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TASKRUNNER_TEST_DIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(line) for line in done.stderr.splitlines() if line.strip()]
    states = [line["state"] for line in lines if "job_id" in line]
    assert "running" in states and "succeeded" in states
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_bad_log_options_are_refused() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskrunner",
            "run",
            "tests.apps.burst:runner",
            "--log-format",
            "xml",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--log-format must be text or json" in done.stderr
