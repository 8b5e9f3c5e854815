"""Log lines about jobs: one per state change, its facts attached as fields, written as text
or as JSON (`taskrunner run --log-format json`). Argument values are never logged."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from taskrunner.backend import JobRecord

JOB_FIELDS = ("job_id", "task", "queue", "attempt", "max_attempts", "state", "duration",
              "delay", "error_type", "error_message", "worker")  # fmt: skip


def job_event(
    logger: logging.Logger,
    level: int,
    record: JobRecord,
    state: str,
    detail: str = "",
    *,
    started: float | None = None,
    **fields: Any,
) -> None:
    """Log that a job reached `state`; `started` (time.monotonic()) adds the duration."""
    if not logger.isEnabledFor(level):
        return
    facts: dict[str, Any] = {
        "job_id": record.id, "task": record.task, "queue": record.queue,
        "attempt": record.attempt, "max_attempts": record.max_attempts, "state": state,
    }  # fmt: skip
    took = ""
    if started is not None:
        facts["duration"] = round(time.monotonic() - started, 6)
        took = f" in {facts['duration'] * 1000:.0f}ms"
    facts.update(fields)
    logger.log(
        level,
        "job %s (%s) %s, attempt %d/%d%s%s",
        record.id,
        record.task,
        state,
        record.attempt,
        record.max_attempts,
        took,
        f": {detail}" if detail else "",
        extra=facts,
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any job fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in JOB_FIELDS:
            if name in record.__dict__:
                data[name] = record.__dict__[name]
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


def setup_logging(level: str, style: str = "text") -> None:
    """Send log lines to stderr, as `text` or `json`."""
    handler = logging.StreamHandler(sys.stderr)
    if style == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
