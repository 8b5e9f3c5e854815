"""What a job is: its states, the record a backend stores, and the view users read."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from taskrunner.serialization import compact, decode_payload, decode_result


class JobState(enum.StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the three states a job never leaves by itself."""
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True, slots=True)
class JobError:
    """Why an attempt failed: the exception's type, message and formatted traceback."""

    type: str
    message: str
    traceback: str = ""

    def encode(self) -> bytes:
        return compact(
            orjson.dumps({"type": self.type, "message": self.message, "traceback": self.traceback})
        )

    @classmethod
    def decode(cls, raw: bytes) -> JobError:
        try:
            data = orjson.loads(raw)
            return cls(str(data["type"]), str(data["message"]), str(data.get("traceback", "")))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return cls("UndecodableError", raw.decode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class JobProgress:
    """What a running task last reported through `current_job().report_progress(...)`."""

    done: float
    total: float | None = None
    message: str | None = None

    def encode(self) -> bytes:
        return compact(
            orjson.dumps({"done": self.done, "total": self.total, "message": self.message})
        )

    @classmethod
    def decode(cls, raw: bytes) -> JobProgress | None:
        try:
            data = orjson.loads(raw)
            return cls(float(data["done"]), data.get("total"), data.get("message"))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


class AttemptOutcome(enum.StrEnum):
    """How one attempt ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # and no attempt follows
    RETRY = "retry"  # failed; another attempt follows
    CANCELLED = "cancelled"
    RELEASED = "released"  # put back unfinished by a stopping worker
    LOST = "lost"  # its lease expired: the worker died or went silent


@dataclass(slots=True)
class AttemptRecord:
    """One attempt of a job, as the backend recorded it when the attempt ended."""

    attempt: int
    worker: str | None
    started_at: float | None
    ended_at: float
    outcome: AttemptOutcome
    error: bytes | None = None


@dataclass(slots=True)
class JobRecord:
    """A job as a backend stores it (read-only by convention; see `taskrunner.backend`).

    Times are seconds since the epoch on the backend's clock.

    `payload`, `result`, `error` and `progress` are opaque bytes to the backend; the core
    encodes and decodes them.
    """

    id: str
    task: str
    queue: str
    payload: bytes
    state: JobState
    priority: int
    attempt: int
    max_attempts: int
    enqueued_at: float
    run_at: float
    key: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    lease_until: float | None = None
    worker: str | None = None
    result: bytes | None = None
    error: bytes | None = None
    progress: bytes | None = None
    cancel_requested: bool = False
    attempts: list[AttemptRecord] | None = None  # filled by `get` where the backend keeps them


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def utc_time(seconds: float) -> datetime:
    """The UTC moment `seconds` after the epoch. A stored time beyond what a datetime holds
    (written by plain SQL or an older version) reads as its first or last moment instead of
    failing the read."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):
        return _LATEST if seconds > 0 else _EARLIEST


def _time(value: float | None) -> datetime | None:
    return None if value is None else utc_time(value)


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    """One attempt of a job: when and where it ran, and how it ended."""

    attempt: int
    worker: str | None
    started_at: datetime | None
    ended_at: datetime
    outcome: AttemptOutcome
    error: JobError | None

    @property
    def duration(self) -> float | None:
        """Seconds the attempt ran, if its start is known."""
        if self.started_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @classmethod
    def from_record(cls, record: AttemptRecord) -> AttemptInfo:
        return cls(
            attempt=record.attempt,
            worker=record.worker,
            started_at=_time(record.started_at),
            ended_at=utc_time(record.ended_at),
            outcome=record.outcome,
            error=None if record.error is None else JobError.decode(record.error),
        )


@dataclass(frozen=True, slots=True)
class JobInfo:
    """Everything known about a job, as `runner.get_job(id)` returns it."""

    id: str
    task: str
    queue: str
    state: JobState
    attempt: int
    max_attempts: int
    priority: int
    key: str | None
    args: list[Any] | None
    kwargs: dict[str, Any] | None
    enqueued_at: datetime
    run_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    result: Any
    error: JobError | None
    progress: JobProgress | None
    cancel_requested: bool
    attempts: list[AttemptInfo] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state.finished

    @classmethod
    def from_record(cls, record: JobRecord) -> JobInfo:
        try:
            args, kwargs = decode_payload(record.payload)
        except Exception:
            args, kwargs = None, None
        return cls(
            id=record.id,
            task=record.task,
            queue=record.queue,
            state=record.state,
            attempt=record.attempt,
            max_attempts=record.max_attempts,
            priority=record.priority,
            key=record.key,
            args=args,
            kwargs=kwargs,
            enqueued_at=utc_time(record.enqueued_at),
            run_at=utc_time(record.run_at),
            started_at=_time(record.started_at),
            finished_at=_time(record.finished_at),
            worker=record.worker,
            result=None if record.result is None else decode_result(record.result),
            error=None if record.error is None else JobError.decode(record.error),
            progress=None if record.progress is None else JobProgress.decode(record.progress),
            cancel_requested=record.cancel_requested,
            attempts=[AttemptInfo.from_record(a) for a in record.attempts or ()],
        )
