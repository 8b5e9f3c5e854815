"""The memory backend's state: the jobs, their indexes, the expiry heap and the waiters, with
the primitive changes that keep them consistent. `backend` and `inspection` both work on it.

Nothing here awaits: each change is atomic with respect to the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
from collections.abc import Callable, Sequence

from taskrunner.backend import (
    FINISHED_STATES,
    AttemptOutcome,
    AttemptRecord,
    JobRecord,
    JobState,
    NewJob,
    dependency_error,
)
from taskrunner.memory.activity import ActivityLog
from taskrunner.memory.batches import BatchBook
from taskrunner.memory.flow import FlowGate
from taskrunner.memory.ready import Ready

# the states a claim and a finish name, read once: on Python 3.11 `JobState.X` is a slow
# lookup (the enum metaclass's `__getattr__` sends every class attribute read through
# `__getattribute__`'s wrapper), and the drain names them several times per job
QUEUED, RUNNING = JobState.QUEUED, JobState.RUNNING
_blank = object.__new__  # a record with no field set yet (see `StoredJob.record`)


# One ended attempt as the store keeps it: `AttemptRecord`'s fields, in its order, in a
# tuple. Building one costs a fifth of the dataclass (a finish makes one per outcome), and
# the collector stops tracking a tuple of plain values; reads make the `AttemptRecord`s.
Attempt = tuple[int, str | None, float | None, float, AttemptOutcome, bytes | None]


@dataclasses.dataclass(slots=True)
class StoredJob(JobRecord):
    """One job as the store keeps it: a `JobRecord` (never handed out: `record` copies it)
    plus the store's bookkeeping, its ended attempts in `history` (`attempts` stays None)."""

    history: list[Attempt] = dataclasses.field(default_factory=list)
    seq: int = 0  # enqueue order: breaks ties between jobs due at the same time
    version: int = 0  # bumped whenever the job enters a queue, so stale heap entries are skipped
    expires_at: float | None = None
    pending: set[str] = dataclasses.field(default_factory=set)  # the dependencies not met yet
    after_ttl: float | None = None

    def record(self) -> JobRecord:
        """The job as it crosses the boundary, without its attempts."""
        # made blank and filled field by field: this runs once per claim, and on Python 3.11
        # a call of the dataclass with its 29 arguments costs a third more (the arguments
        # are packed in a tuple twice, then unpacked into the `__init__` frame)
        copy = _blank(JobRecord)
        copy.id = self.id
        copy.task = self.task
        copy.queue = self.queue
        copy.payload = self.payload
        copy.state = self.state
        copy.priority = self.priority
        copy.attempt = self.attempt
        copy.max_attempts = self.max_attempts
        copy.enqueued_at = self.enqueued_at
        copy.run_at = self.run_at
        copy.key = self.key
        copy.started_at = self.started_at
        copy.finished_at = self.finished_at
        copy.lease_until = self.lease_until
        copy.worker = self.worker
        copy.result = self.result
        copy.error = self.error
        copy.progress = self.progress
        copy.cancel_requested = self.cancel_requested
        copy.attempts = None
        copy.limit_key = self.limit_key
        copy.limit_max = self.limit_max
        copy.rate_key = self.rate_key
        copy.rate_max = self.rate_max
        copy.rate_per = self.rate_per
        copy.held = self.held
        copy.batch_id = self.batch_id
        copy.after = self.after
        copy.after_run_anyway = self.after_run_anyway
        return copy


class Store:
    """All jobs in dicts and heaps of one process, on the clock `clock`."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.jobs: dict[str, StoredJob] = {}
        self.keys: dict[tuple[str, str], str] = {}  # (queue, dedup key) -> holder's id
        # dedup windows: (queue, key) -> (id of the job that opened it, open until)
        self.windows: dict[tuple[str, str], tuple[str, float]] = {}
        self.ready: dict[str, Ready] = {}  # by queue
        self.delayed: list[tuple[float, int, int, str]] = []
        self.expiring: list[tuple[float, str]] = []
        self.running: dict[str, StoredJob] = {}
        self.counts: dict[str, dict[JobState, int]] = {}
        self.paused: set[str] = set()  # queues no claim takes from
        self.gate = FlowGate(self.requeue_held)
        self.batches = BatchBook(self.store_new)
        self.dependents: dict[str, list[str]] = {}  # job id -> ids of jobs waiting on it
        self.ended: list[StoredJob] = []  # ended jobs whose dependents are not judged yet
        self.judging = False  # judge_dependents is working through `ended`
        self.seq = itertools.count()
        self.wakeup = asyncio.Event()
        self.finish_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.activity = ActivityLog()

    def count(self, job: StoredJob, state: JobState, delta: int) -> None:
        """Add `delta` to the count of `job`'s queue in `state`."""
        counts = self.counts.get(job.queue)
        if counts is None:
            counts = self.counts[job.queue] = dict.fromkeys(JobState, 0)
        counts[state] += delta

    def set_state(self, job: StoredJob, state: JobState) -> None:
        """Move `job` to `state`, keeping the counts and the index of running jobs."""
        counts = self.counts.get(job.queue)
        if counts is None:
            counts = self.counts[job.queue] = dict.fromkeys(JobState, 0)
        before = job.state
        counts[before] -= 1
        counts[state] += 1
        if before is RUNNING:
            self.running.pop(job.id, None)
        elif state is RUNNING:
            self.running[job.id] = job
        job.state = state
        if job.batch_id is not None:
            self.batches.moved(job.batch_id, before, state, self.clock())

    def start(self, job: StoredJob, now: float, lease: float, worker: str) -> JobRecord:
        """A claim takes the queued `job`: its next attempt starts `now`, leased to `worker`
        for `lease` seconds. Answers the record handed out. (`set_state`'s work, done
        without its tests for a job outside any batch: claims run this once per job.)"""
        if job.batch_id is None:
            counts = self.counts[job.queue]  # made when the job was stored
            counts[QUEUED] -= 1
            counts[RUNNING] += 1
            job.state = RUNNING
            self.running[job.id] = job
        else:
            self.set_state(job, RUNNING)
        job.attempt += 1
        job.started_at = now
        job.lease_until = now + lease
        job.worker = worker
        job.cancel_requested = False
        return job.record()

    def queue(self, job: StoredJob, now: float) -> None:
        """Put a job where claim finds it: ready if due, delayed otherwise."""
        job.version += 1
        if job.run_at <= now:
            self.set_state(job, QUEUED)
            entry = (job.priority, job.run_at, job.seq, job.version, job.id)
            ready = self.ready.get(job.queue)
            if ready is None:
                ready = self.ready[job.queue] = Ready()
            ready.push(entry)
            self.wakeup.set()
        else:
            self.set_state(job, JobState.SCHEDULED)
            heapq.heappush(self.delayed, (job.run_at, job.seq, job.version, job.id))
            # a waiting worker must recompute how long to sleep
            self.wakeup.set()

    def store_new(self, new: NewJob, now: float) -> str:
        """Store one new job (see `Backend.enqueue`); answers its id, or that of the job
        holding its dedup key or window. A job due now behind a backlog of its limit key is
        set aside at once (`FlowGate.parks`)."""
        if new.id in self.jobs:  # the same job sent again: keep what is stored
            return new.id
        if new.key is not None and new.key_ttl is not None:  # a dedup window
            holder = self.window_holder(new.queue, new.key, now)
            if holder is not None:
                return holder
            self.windows[new.queue, new.key] = (new.id, now + new.key_ttl)
        elif new.key is not None:  # a key is unique within its queue
            holder = self.keys.get((new.queue, new.key))
            if holder is not None:
                return holder
            self.keys[new.queue, new.key] = new.id
        job = StoredJob(
            id=new.id,
            task=new.task,
            queue=new.queue,
            payload=new.payload,
            state=JobState.QUEUED,
            priority=new.priority,
            attempt=0,
            max_attempts=new.max_attempts,
            enqueued_at=now,
            # a job due now shares the `now` object with the jobs of its enqueue call: the
            # ready heap's tuple comparisons then pass its run_at by identity
            run_at=new.at if new.at is not None else (now + new.delay if new.delay else now),
            key=new.key if new.key_ttl is None else None,
            limit_key=new.limit_key,
            limit_max=new.limit_max,
            rate_key=new.rate_key,
            rate_max=new.rate_max,
            rate_per=new.rate_per,
            batch_id=new.batch_id,
            after=new.after,
            after_run_anyway=new.after_run_anyway,
            after_ttl=new.after_ttl,
            seq=next(self.seq),
        )
        self.jobs[job.id] = job
        self.count(job, JobState.QUEUED, +1)
        if job.batch_id is not None:
            self.batches.added(job.batch_id, job.id)
        if job.after:
            self.wait_on(job, now)
        elif (  # a plain job pays for the first test only
            job.limit_key is not None and new.at is None and new.delay <= 0 and self.gate.parks(job)
        ):
            job.version += 1
            entry = (job.priority, job.run_at, job.seq, job.version, job.id)
            self.gate.park(job, entry)
        else:
            self.queue(job, now)
        return job.id

    def missing_dependency(self, news: Sequence[NewJob]) -> str | None:
        """The first id in the jobs' `after` that no stored job has (see `Dependencies`)."""
        for new in news:
            for dependency in new.after:
                if dependency not in self.jobs:
                    return dependency
        return None

    def wait_on(self, job: StoredJob, now: float) -> None:
        """Judge a new job's dependencies: wait for those not ended, or end it at once."""
        for dependency in job.after:
            other = self.jobs[dependency]
            if other.state is JobState.SUCCEEDED or (
                job.after_run_anyway and other.state in FINISHED_STATES
            ):
                continue
            if other.state in FINISHED_STATES:
                job.pending.clear()
                job.error = dependency_error(dependency, other.state)
                self.finish(job, JobState.CANCELLED, now, job.after_ttl)
                return
            job.pending.add(dependency)
        if not job.pending:
            self.queue(job, now)
            return
        self.set_state(job, JobState.WAITING)
        for dependency in job.pending:
            self.dependents.setdefault(dependency, []).append(job.id)

    def judge_dependents(self, now: float) -> None:
        """Queue or cancel the jobs waiting on the jobs that ended (`self.ended`), and on
        those that this cancels in turn."""
        ended, self.judging = self.ended, True
        try:
            self._judge(ended, now)
        finally:
            self.judging = False

    def _judge(self, ended: list[StoredJob], now: float) -> None:
        while ended:
            job = ended.pop()
            for waiting_id in self.dependents.pop(job.id, ()):
                waiting = self.jobs.get(waiting_id)
                if waiting is None or waiting.state is not JobState.WAITING:
                    continue
                if job.state is JobState.SUCCEEDED or waiting.after_run_anyway:
                    waiting.pending.discard(job.id)
                    if not waiting.pending:
                        self.queue(waiting, now)
                else:
                    waiting.pending.clear()
                    waiting.error = dependency_error(job.id, job.state)
                    self.finish(waiting, JobState.CANCELLED, now, waiting.after_ttl)

    def requeue_held(self, job_id: str, version: int) -> bool:
        """Put a job that a claim set aside back where claims find it; False if it is not
        set aside any more (claimed, cancelled, or already back)."""
        job = self.jobs.get(job_id)
        if job is None or job.version != version or job.held is None:
            return False
        job.held = None
        self.queue(job, self.clock())
        return True

    def promote(self, now: float) -> None:
        """Queue the delayed jobs that are due by `now`, and the held ones whose rate window
        has opened."""
        self.gate.open_windows(now)
        delayed = self.delayed
        while delayed and delayed[0][0] <= now:
            _, _, version, job_id = heapq.heappop(delayed)
            job = self.jobs.get(job_id)
            if job is not None and job.version == version and job.state is JobState.SCHEDULED:
                self.queue(job, now)

    def next_due(self) -> float | None:
        """When the earliest delayed job falls due or a held job's rate window opens (None:
        neither is waited for). The moment may have passed, or its job changed since."""
        moments = [self.delayed[0][0]] if self.delayed else []
        opening = self.gate.next_opening()
        if opening is not None:
            moments.append(opening)
        return min(moments, default=None)

    def next_lease_end(self) -> float | None:
        """When the earliest lease of a running job runs out (None: nothing runs)."""
        ends = (job.lease_until for job in self.running.values() if job.lease_until is not None)
        return min(ends, default=None)

    def finish(self, job: StoredJob, state: JobState, now: float, ttl: float | None) -> None:
        """End `job` in the finished `state`, kept `ttl` seconds, and wake its waiters."""
        if job.batch_id is None and job.state is RUNNING:  # an attempt's end: `set_state`'s
            counts = self.counts[job.queue]  # work without its tests (made when stored)
            counts[RUNNING] -= 1
            counts[state] += 1
            self.running.pop(job.id, None)
            job.state = state
        else:
            self.set_state(job, state)
        job.held = None
        job.finished_at = now
        job.lease_until = None
        job.version += 1
        if ttl is not None:
            job.expires_at = now + ttl
            heapq.heappush(self.expiring, (job.expires_at, job.id))
        waiters = self.finish_waiters.pop(job.id, None)
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if job.id in self.dependents:
            self.ended.append(job)
            if not self.judging:
                self.judge_dependents(now)

    def expire(self, now: float) -> None:
        """Drop the finished records whose retention has ended. Every read and enqueue calls
        this first, so an expired record is never seen and never holds its key, whether or
        not a worker's reclaim has run."""
        expiring = self.expiring
        while expiring and expiring[0][0] <= now:
            expires_at, job_id = heapq.heappop(expiring)
            old = self.jobs.get(job_id)
            if old is not None and old.expires_at == expires_at and old.state in FINISHED_STATES:
                self.delete(old)

    def window_holder(self, queue: str, key: str, now: float) -> str | None:
        """The id of the job whose dedup window on (queue, key) is open at `now`, if any
        (a closed one is forgotten here)."""
        window = self.windows.get((queue, key))
        if window is None:
            return None
        if window[1] > now:
            return window[0]
        del self.windows[queue, key]
        return None

    def delete(self, job: StoredJob) -> None:
        """Forget `job`, freeing its dedup key if it holds it."""
        del self.jobs[job.id]
        self.count(job, job.state, -1)
        self.running.pop(job.id, None)
        if job.key is not None and self.keys.get((job.queue, job.key)) == job.id:
            del self.keys[job.queue, job.key]

    def end_attempt(
        self, job: StoredJob, now: float, outcome: AttemptOutcome, error: bytes | None = None
    ) -> None:
        """Log the end of the job's current attempt."""
        job.history.append((job.attempt, job.worker, job.started_at, now, outcome, error))
        runtime = now - job.started_at if job.started_at is not None else 0.0
        self.activity.record(job.queue, now, runtime, outcome)

    def full_record(self, job_id: str) -> JobRecord | None:
        """The job's record with its attempts, or None if there is no such job."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        record = job.record()
        record.attempts = [AttemptRecord(*attempt) for attempt in job.history]
        return record
