"""What a runner answers about the jobs, queues and workers of its backend: `stats`,
`list_jobs` pages and their filters, and the backend's pausing of queues. `TaskRunner`'s
methods of those names call these."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from taskrunner import _validation as validation
from taskrunner.backend import (
    Backend,
    Held,
    Inspection,
    JobFilter,
    JobRecord,
    JobState,
    QueuePausing,
)
from taskrunner.dependencies import unmet
from taskrunner.errors import ConfigurationError
from taskrunner.job import Hold, HoldKind, JobInfo
from taskrunner.stats import QueueStats, Stats, queue_stats, window_start


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of `list_jobs`: its jobs, and the cursor for the next page (None: last)."""

    jobs: list[JobInfo]
    next: str | None


async def stats(backend: Backend, queues: Sequence[str] | None, window: float) -> Stats:
    """`TaskRunner.stats`: the counts per queue and state, with activity and the workers
    alive where the backend keeps them (`window` checked by the caller), each queue marked
    paused or not; a paused queue is listed even without jobs."""
    counts = await backend.stats(queues)
    paused = set(await backend.paused()) if isinstance(backend, QueuePausing) else set()
    for queue in sorted(paused - counts.keys()):
        if queues is None or queue in queues:
            counts[queue] = dict.fromkeys(JobState, 0)
    if not isinstance(backend, Inspection):
        return Stats(
            {q: QueueStats(c, window=window, paused=q in paused) for q, c in counts.items()}, []
        )
    now = await backend.now()
    activity = await backend.activity(
        list(counts) if queues is None else queues, since=window_start(now, window)
    )
    return Stats(
        {
            q: queue_stats(c, activity.get(q), now, window, paused=q in paused)
            for q, c in counts.items()
        },
        await backend.workers(),
    )


async def job_info(backend: Backend, record: JobRecord) -> JobInfo:
    """`TaskRunner.get_job`: the job's record as a `JobInfo`, with what holds it."""
    return dataclasses.replace(JobInfo.from_record(record), held_by=await held_by(backend, record))


async def held_by(backend: Backend, record: JobRecord) -> Hold | None:
    """What holds a job that could run now (queued, or scheduled and due on the backend's
    clock): its queue is paused, its limit key has no free slot or its rate window is closed
    (as the last claim that met it found), or no live worker takes its queue (where the
    backend keeps a worker registry). None for other jobs and when nothing holds it. A
    round trip per question asked, so only `get_job` asks."""
    if record.state is JobState.WAITING:
        return await waiting_hold(backend, record)
    if record.state is JobState.SCHEDULED:
        if record.run_at > await backend.now():
            return None  # not due yet: its run_at says when, nothing holds it
    elif record.state is not JobState.QUEUED:
        return None
    queue = record.queue
    if isinstance(backend, QueuePausing) and queue in await backend.paused():
        return Hold(HoldKind.PAUSED, f"its queue {queue!r} is paused")
    if record.held is Held.LIMIT:
        return Hold(
            HoldKind.LIMIT,
            f"its limit key {record.limit_key!r} has its {record.limit_max} running already",
        )
    if record.held is Held.RATE:
        return Hold(
            HoldKind.RATE,
            f"its rate key {record.rate_key!r} had its {record.rate_max} starts in the "
            f"last {record.rate_per:g}s",
        )
    if isinstance(backend, Inspection) and not any(
        queue in worker.queues for worker in await backend.workers()
    ):
        return Hold(HoldKind.NO_WORKER, f"no worker takes queue {queue!r}")
    return None


async def waiting_hold(backend: Backend, record: JobRecord) -> Hold:
    """What a waiting job waits on: the jobs given to its `after=` that have not ended."""
    pending = unmet(record, await backend.get(record.after))
    total = len(record.after)
    shown = ", ".join(pending[:3]) + (f" and {len(pending) - 3} more" if len(pending) > 3 else "")
    detail = (
        f"it waits for {len(pending)} of the {total} jobs given to after= to end: {shown}"
        if pending
        else f"the {total} jobs given to after= have ended; it is being queued"
    )
    return Hold(HoldKind.DEPENDENCIES, detail)


def pausing(backend: Backend) -> QueuePausing:
    """`backend`, if it can pause queues; a `ConfigurationError` saying so otherwise."""
    if not isinstance(backend, QueuePausing):
        raise ConfigurationError(f"the {type(backend).__name__} cannot pause queues")
    return backend


def job_filter(
    queue: str | None,
    state: JobState | str | None,
    task: str | None,
    since: datetime | None,
    until: datetime | None,
) -> JobFilter:
    """The filter of a `list_jobs` call, its values checked."""
    return JobFilter(
        queue=None if queue is None else validation.queue_name(queue),
        state=None if state is None else parse_state(state),
        task=None if task is None else validation.task_name(task),
        since=None if since is None else aware(since, "since").timestamp(),
        until=None if until is None else aware(until, "until").timestamp(),
    )


async def list_jobs(
    backend: Inspection,
    limit: int,
    before: str | None,
    *,
    queue: str | None,
    state: JobState | str | None,
    task: str | None,
    since: datetime | None,
    until: datetime | None,
) -> JobPage:
    """`TaskRunner.list_jobs`: one page of the jobs matching every filter, newest first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ConfigurationError(f"limit must be an int from 1 to 1000, got {limit!r}")
    where = job_filter(queue, state, task, since, until)
    records = await backend.list_jobs(where, limit, before)
    jobs = [JobInfo.from_record(record) for record in records]
    return JobPage(jobs, jobs[-1].id if len(jobs) == limit else None)


def parse_state(state: JobState | str) -> JobState:
    """A `JobState` from itself or its value; a `ConfigurationError` naming them otherwise."""
    try:
        return JobState(state)
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise ConfigurationError(f"unknown job state {state!r}; one of: {names}") from None


def aware(moment: datetime, what: str) -> datetime:
    """`moment`, if it is a timezone-aware datetime."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ConfigurationError(f"{what}= must be a timezone-aware datetime, got {moment!r}")
    return moment
