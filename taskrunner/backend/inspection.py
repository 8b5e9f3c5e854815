"""What backends can tell about past and present work, beyond the core protocol: every
attempt of a job, jobs listed by filter, recent activity per queue, and live workers.

A backend offers these by implementing `Inspection` as well as `Backend`. Times are seconds
since the epoch on the backend's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from taskrunner.backend.records import AttemptOutcome, JobRecord, JobState


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs `list_jobs` returns: all given conditions hold (enqueued in [since, until))."""

    queue: str | None = None
    state: JobState | None = None
    task: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass(slots=True)
class QueueActivity:
    """A queue's recent work: what finished lately, and the longest wait of a due job."""

    # (ended_at, runtime, outcome) of the most recent attempts that ended, newest first
    recent: list[tuple[float, float, AttemptOutcome]] = field(default_factory=list)
    # attempts that ended per minute (epoch seconds // 60), by outcome, for the last hour
    per_minute: dict[int, dict[AttemptOutcome, int]] = field(default_factory=dict)
    oldest_due_at: float | None = None
    # attempts that ended per second (epoch seconds), by outcome, in the minute that the
    # `since` given to `activity` falls in, from that second on (empty without `since`)
    per_second: dict[int, dict[AttemptOutcome, int]] = field(default_factory=dict)


@dataclass(slots=True)
class WorkerRecord:
    """A worker as it announces itself; `last_seen` is set by the backend."""

    id: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    running: int
    started_at: float
    last_seen: float = 0.0


@dataclass(slots=True)
class FlowCounts:
    """A queue's flow control now: `limit_running`, its running jobs that hold a slot of a
    limit key; `held`, its queued jobs a claim (or an enqueue) set aside for their limit or
    rate key (`JobRecord.held` set)."""

    limit_running: int = 0
    held: int = 0


RECENT_LIMIT = 1000  # attempts kept per queue for runtime percentiles
MINUTES_KEPT = 60
# a window an hour long starts in the minute before the MINUTES_KEPT last ones: its seconds
# are kept that much longer
SECONDS_KEPT = (MINUTES_KEPT + 1) * 60


@runtime_checkable
class Inspection(Protocol):
    """The inspection methods. `get` of a backend that has them fills `JobRecord.attempts`."""

    async def list_jobs(
        self, where: JobFilter, limit: int, before: str | None = None
    ) -> list[JobRecord]:
        """Up to `limit` jobs matching `where`, newest first (by id); with `before`, only
        jobs older than that id (the paging cursor)."""

    async def activity(
        self, queues: Sequence[str] | None = None, since: float | None = None
    ) -> dict[str, QueueActivity]:
        """Recent work of each queue (None: every queue the backend knows). With `since`
        (a time within the last hour), `per_second` holds the counts of the seconds from
        `since`, rounded down to its second, to the end of that minute."""

    async def register_worker(self, worker: WorkerRecord, ttl: float) -> None:
        """Record that `worker` is alive now; it counts as alive for `ttl` seconds."""

    async def unregister_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped."""

    async def workers(self) -> list[WorkerRecord]:
        """The workers alive now."""


@runtime_checkable
class FlowInspection(Protocol):
    """An optional ability: counting, per queue, the jobs that flow control holds right now
    (for metrics). Each count is read in one step; across queues, the counts may come from
    moments a little apart."""

    async def flow_counts(self, queues: Sequence[str]) -> dict[str, FlowCounts]:
        """`FlowCounts` of each of `queues` (zeros for a queue with no such jobs)."""
