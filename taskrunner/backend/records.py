"""The records that cross the backend boundary: a job as stored (`JobRecord`), a job to
store (`NewJob`), the end of an attempt (`Outcome`) and a heartbeat (`Beat`), with the
states and outcomes they name.

The records that cross the boundary once per job (`NewJob`, `Outcome`, `Beat`, and
`JobRecord`) are plain slotted dataclasses, not frozen ones: they are built on the hot path,
where frozen construction costs twice as much. Treat them as read-only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class JobState(enum.StrEnum):
    """Where a job is in its life. The members come in this order (waiting, queued,
    scheduled, running, succeeded, failed, cancelled), which backends keep where a store
    answers one count per state: iterate `JobState` rather than copying the order.

    `waiting`: stored with `NewJob.after`, and some job it waits on has not ended yet (see
    `taskrunner.backend.dependencies`)."""

    WAITING = "waiting"
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


class AttemptOutcome(enum.StrEnum):
    """How one attempt ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # and no attempt follows
    RETRY = "retry"  # failed; another attempt follows
    CANCELLED = "cancelled"
    RELEASED = "released"  # put back unfinished: a stopping worker, or the task snoozed
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


class Held(enum.StrEnum):
    """Why a claim set a queued job aside (`JobRecord.held`) instead of taking it: its
    limit key had no free slot, or its rate window was closed. Such a job stays queued,
    uses no attempt, and comes back to the claim when a slot frees or the window opens."""

    LIMIT = "limit"
    RATE = "rate"


@dataclass(slots=True)
class JobRecord:
    """A job as a backend stores it (read-only by convention; see `taskrunner.backend`).

    Times are seconds since the epoch on the backend's clock.

    `payload`, `result`, `error` and `progress` are opaque bytes to the backend; the core
    encodes and decodes them. The flow-control fields are those of the `NewJob`.
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
    limit_key: str | None = None
    limit_max: int = 0
    rate_key: str | None = None
    rate_max: int = 0
    rate_per: float = 0.0
    held: Held | None = None  # queued, and set aside by a claim: see `Held`
    batch_id: str | None = None  # the batch the job is a member of
    after: tuple[str, ...] = ()  # the jobs it waited (or waits) on, as `NewJob.after`
    after_run_anyway: bool = False


@dataclass(slots=True)
class NewJob:
    """A job to store. Its due time is `at` (epoch seconds) when given, else now + `delay`.

    `key_ttl` (seconds, with a `key` only) makes the key a dedup window: held for that long
    after the enqueue, whatever becomes of the job (see `Backend.enqueue`).

    Flow control, enforced by `Backend.claim` within the job's queue: with a `limit_key`, at
    most `limit_max` (>= 1) attempts of the queue's jobs with that limit key run at once;
    with a `rate_key`, at most `rate_max` (>= 1) attempts of the queue's jobs with that rate
    key start in any `rate_per` seconds. Limit keys and rate keys are separate namespaces.
    """

    id: str
    task: str
    queue: str
    payload: bytes
    priority: int = 0
    max_attempts: int = 1
    key: str | None = None
    delay: float = 0.0
    at: float | None = None
    key_ttl: float | None = None
    limit_key: str | None = None
    limit_max: int = 0
    rate_key: str | None = None
    rate_max: int = 0
    rate_per: float = 0.0
    batch_id: str | None = None  # a member of this open batch (see `Batches`)
    after: tuple[str, ...] = ()
    after_run_anyway: bool = False
    after_ttl: float | None = None


@dataclass(slots=True)
class NewBatch:
    """A batch to open: its id, and the jobs to store once, when every member has succeeded
    (`on_success`) and when every member has ended (`on_complete`), after it is closed."""

    id: str
    on_success: NewJob | None = None
    on_complete: NewJob | None = None


@dataclass(slots=True)
class BatchRecord:
    """A batch as the backend keeps it. `counts` holds how many members are in each state,
    kept in the same atomic step as each member's change; `total` is how many members were
    stored. `on_success` and `on_complete` are the ids of the callback jobs (stored only
    once fired: `success_fired`, `complete_fired`). `ended_at` is when the closed batch's
    last member ended (None while one is unfinished, or the batch is open)."""

    id: str
    created_at: float
    closed: bool
    total: int
    counts: dict[JobState, int]
    on_success: str | None = None
    on_complete: str | None = None
    success_fired: bool = False
    complete_fired: bool = False
    ended_at: float | None = None


class OutcomeKind(enum.StrEnum):
    """How an attempt ended, as the worker reports it to the backend."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRY = "retry"  # back to the queue after `delay`; counts as an attempt
    CANCELLED = "cancelled"
    # put back unfinished (on shutdown, or snoozed: due after `delay`); gives back the
    # attempt's budget. Its `error`, if any, is kept in the attempt's history only.
    RELEASED = "released"


# what each reported outcome is recorded as in the attempt's history
ATTEMPT_OUTCOMES = {kind: AttemptOutcome(kind.value) for kind in OutcomeKind}


@dataclass(slots=True)
class Outcome:
    """The end of one attempt, guarded by its fencing token (`attempt`).

    `delay` applies to a retry and to a release (due again after it). A cancelled
    outcome's `error`, if given, is kept on the job as its reason. `ttl` is how long a
    finished job's record is kept (None: until purged): once it has passed, on the backend's
    clock, every read treats the record as gone and its dedup key as free, whether or not
    `reclaim` has deleted it yet. `queue` is the job's queue when the caller knows it: a
    backend that keeps each queue apart (Redis) finds the job without a lookup.
    """

    job_id: str
    attempt: int
    kind: OutcomeKind
    result: bytes | None = None
    error: bytes | None = None
    delay: float = 0.0
    ttl: float | None = None
    queue: str | None = None


@dataclass(slots=True)
class Beat:
    """A heartbeat for one running attempt, with the progress it reported since the last.

    `queue`, when known, saves a backend that keeps each queue apart a lookup (see Outcome).
    """

    job_id: str
    attempt: int
    progress: bytes | None = None
    queue: str | None = None


class LeaseStatus(enum.StrEnum):
    """What the backend answers to a heartbeat."""

    HELD = "held"  # lease renewed
    LOST = "lost"  # another attempt owns the job now, or it is gone
    CANCEL = "cancel"  # lease renewed, and someone asked to cancel the job
