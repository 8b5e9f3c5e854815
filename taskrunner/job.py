"""What users read about a job: `JobInfo`, its attempts and its progress, with the limits on
stored messages. The record a backend stores is `taskrunner.backend.JobRecord`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from taskrunner._json import compact
from taskrunner._serialization import decode_payload, decode_result
from taskrunner.backend import AttemptOutcome, AttemptRecord, JobRecord, JobState
from taskrunner.errors import JobError

MESSAGE_LIMIT = 8 * 1024  # characters kept of an error's or a progress report's message


def cut(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters; else its start and end, `limit`
    characters in all, around a marker that says how much was cut."""
    if len(text) <= limit:
        return text
    marker = f" [... {{}} of {len(text)} characters cut ...] "
    room = max(limit - len(marker) - len(str(len(text))), 0)
    head = room // 4
    tail = room - head
    return text[:head] + marker.format(len(text) - room) + text[len(text) - tail :]


def message_of(exc: BaseException) -> str:
    """`str(exc)`, cut to `MESSAGE_LIMIT` characters, for records and log lines."""
    try:
        message = str(exc)
    except Exception as broken:  # an exception whose __str__ itself fails
        return f"<str() of the exception failed: {type(broken).__name__}>"
    return cut(message, MESSAGE_LIMIT)


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


class HoldKind(enum.StrEnum):
    """What kind of thing holds a job back (see `Hold`). More kinds may come; a program
    should treat an unknown kind as a hold."""

    PAUSED = "paused"  # its queue is paused
    NO_WORKER = "no_worker"  # no live worker takes its queue
    LIMIT = "limit"  # its limit key has no free slot
    RATE = "rate"  # its rate window is closed
    DEPENDENCIES = "dependencies"  # it waits for jobs given to after= to end


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a job that could run now (queued, or scheduled and due) or waits on other jobs
    is not running:
    `kind` for programs, `detail` a sentence for people, e.g. "its queue 'emails' is
    paused". `str(hold)` is the sentence."""

    kind: HoldKind
    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True, slots=True)
class JobInfo:
    """Everything known about a job, as `runner.get_job(id)` returns it. `held_by` says
    what keeps a queued or due job from running (None: nothing known holds it); only
    `get_job` works it out, list views and `get_jobs` leave it None."""

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
    held_by: Hold | None = None
    limit_key: str | None = None  # the key of its task's Limit, worked out at enqueue
    rate_key: str | None = None  # the key of its task's Rate
    batch_id: str | None = None  # the batch it is a member of
    after: tuple[str, ...] = ()  # the jobs it waits (or waited) on
    run_anyway: bool = False  # it runs once those ended, whatever the outcome

    @property
    def finished(self) -> bool:
        return self.state.finished

    @classmethod
    def from_record(cls, record: JobRecord) -> JobInfo:
        return cls.from_record_as(record, record.state, record.result, record.error, record.worker)

    @classmethod
    def from_record_as(
        cls,
        record: JobRecord,
        state: JobState,
        result: bytes | None,
        error: bytes | None,
        worker: str | None,
    ) -> JobInfo:
        """`from_record(record)` with the job's state, result, error and worker as given:
        the job as an attempt left it, without reading it again (or copying its record)."""
        try:
            args, kwargs = decode_payload(record.payload)
        except Exception:
            args, kwargs = None, None
        return cls(
            id=record.id,
            task=record.task,
            queue=record.queue,
            state=state,
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
            worker=worker,
            result=None if result is None else decode_result(result),
            error=None if error is None else JobError.decode(error),
            progress=None if record.progress is None else JobProgress.decode(record.progress),
            cancel_requested=record.cancel_requested,
            attempts=[AttemptInfo.from_record(a) for a in record.attempts or ()],
            limit_key=record.limit_key,
            rate_key=record.rate_key,
            batch_id=record.batch_id,
            after=record.after,
            run_anyway=record.after_run_anyway,
        )
