"""Converting between protocol values and what the scripts take and return."""

from __future__ import annotations

from collections.abc import Sequence

from taskrunner.job import JobRecord, JobState

MICROS = 1_000_000
# the order of the fields a script returns for a job (after its id): see FIELDS in common.lua
FIELDS = (
    "task",
    "queue",
    "payload",
    "state",
    "priority",
    "attempt",
    "max_attempts",
    "enqueued_at",
    "run_at",
    "key",
    "started_at",
    "finished_at",
    "lease_until",
    "worker",
    "result",
    "error",
    "progress",
    "cancel",
)


def micros(seconds: float) -> int:
    return round(seconds * MICROS)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _int(value: bytes | None, default: int = 0) -> int:
    try:
        return default if value is None else int(value)
    except ValueError:
        return default


def _time(value: bytes | None) -> float | None:
    return None if value is None else _int(value) / MICROS


def parse_record(
    job_id: bytes | str, values: Sequence[bytes | None], now_us: int | None = None
) -> JobRecord | None:
    """A JobRecord from a script's or HMGET's answer; None if the hash is gone.

    A hash some other program wrote may lack fields: they read as empty, and a state that is
    not one of ours reads as failed, so such a job can still be looked at and purged.
    """
    if all(value is None for value in values):
        return None
    (
        task,
        queue,
        payload,
        state,
        priority,
        attempt,
        max_attempts,
        enqueued_at,
        run_at,
        key,
        started_at,
        finished_at,
        lease_until,
        worker,
        result,
        error,
        progress,
        cancel,
    ) = values
    try:
        job_state = JobState((state or b"").decode())
    except ValueError:
        job_state = JobState.FAILED
    run_at_us = _int(run_at)
    if job_state is JobState.SCHEDULED and now_us is not None and run_at_us <= now_us:
        job_state = JobState.QUEUED  # due: it waits in the same set, claimable
    return JobRecord(
        id=job_id.decode() if isinstance(job_id, bytes) else job_id,
        task=(task or b"").decode(),
        queue=(queue or b"").decode(),
        payload=payload or b"",
        state=job_state,
        priority=_int(priority),
        attempt=_int(attempt),
        max_attempts=_int(max_attempts, 1),
        enqueued_at=_int(enqueued_at) / MICROS,
        run_at=run_at_us / MICROS,
        key=_text(key),
        started_at=_time(started_at),
        finished_at=_time(finished_at),
        lease_until=_time(lease_until),
        worker=_text(worker),
        result=result,
        error=error,
        progress=progress,
        cancel_requested=cancel == b"1",
    )
