"""What an attempt owes to flow control: the per-enqueue options that travel in a job's
payload meta (`timeout`, `expires`, see `taskrunner.task`), a task's `Snooze`, and the worker
cancelling it (asked to, stopping, or its lease lost).

Expiry is judged on the backend's clock: the job's `enqueued_at` and the claim's
`started_at` are both the backend's times.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any, Literal

from taskrunner.backend import JobRecord, Outcome, OutcomeKind
from taskrunner.errors import JobError
from taskrunner.retry import MAX_SECONDS, Snooze
from taskrunner.task import META_EXPIRES_AT, META_EXPIRES_IN, META_TIMEOUT
from taskrunner.telemetry.logs import job_event
from taskrunner.worker.settings import WorkerCounters

log = logging.getLogger("taskrunner.job")

CancelReason = Literal["requested", "shutdown", "lost"]


def _number(meta: dict[str, Any] | None, key: str) -> float | None:
    """A finite, non-negative number under `key`; None when absent or not one (a payload
    written by hand may carry anything)."""
    value = meta.get(key) if meta else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def timeout_of(meta: dict[str, Any] | None, default: float | None) -> float | None:
    """The attempt's timeout: the one given at enqueue, else the task's."""
    timeout = _number(meta, META_TIMEOUT)
    return default if timeout is None or not 0 < timeout <= MAX_SECONDS else timeout


def expired(meta: dict[str, Any] | None, record: JobRecord) -> str | None:
    """Why the job must not start (it expired before this claim), or None to run it."""
    started = record.started_at
    if started is None:
        return None
    after = _number(meta, META_EXPIRES_IN)
    if after is not None and started > record.enqueued_at + after:
        return f"expired: not started within {after:g}s of its enqueue"
    at = _number(meta, META_EXPIRES_AT)
    if at is not None and started > at:
        moment = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
        return f"expired: not started by {moment}"
    return None


def expired_outcome(record: JobRecord, reason: str, ttl: float | None, started: float) -> Outcome:
    """The job ends cancelled, with `reason` as its error, instead of running late."""
    job_event(log, logging.WARNING, record, "cancelled", reason, started=started)
    error = JobError("Expired", reason)
    return Outcome(record.id, record.attempt, OutcomeKind.CANCELLED, error=error.encode(), ttl=ttl)


def snoozed(record: JobRecord, snooze: Snooze, started: float) -> Outcome:
    """Back to the queue after the snooze's delay, the attempt given back."""
    message = f"snoozed for {snooze.delay:g}s"
    job_event(log, logging.INFO, record, "scheduled", message, started=started, delay=snooze.delay)
    error = JobError("Snoozed", message)
    return Outcome(
        record.id, record.attempt, OutcomeKind.RELEASED, error=error.encode(), delay=snooze.delay
    )


def cancelled(
    record: JobRecord,
    reason: CancelReason,
    counters: WorkerCounters,
    ttl: float | None,
    started: float,
) -> Outcome | None:
    """The outcome of an attempt the worker cancelled for `reason`: cancelled (kept `ttl`
    seconds), put back (the worker stops), or none (its lease was lost: another attempt
    owns the job)."""
    if reason == "requested":
        counters.cancelled += 1
        message = "asked to stop while running"
        job_event(log, logging.INFO, record, "cancelled", message, started=started)
        return Outcome(record.id, record.attempt, OutcomeKind.CANCELLED, ttl=ttl)
    if reason == "shutdown":
        counters.released += 1
        message = "put back: the worker is stopping"
        job_event(log, logging.INFO, record, "queued", message, started=started)
        return Outcome(record.id, record.attempt, OutcomeKind.RELEASED)
    counters.lost += 1
    message = "its lease expired and another attempt took the job; stopped this one"
    job_event(log, logging.WARNING, record, "lost", message, started=started)
    return None
