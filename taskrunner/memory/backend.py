"""The memory backend: one process, no I/O. The in-process mode and the reference semantics.

Every method runs without awaiting between reading and writing state, so each call is atomic
with respect to the event loop, as a Lua script or a SQL statement is on the other backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from taskrunner.backend import (
    FINISHED_STATES,
    AttemptOutcome,
    AttemptRecord,
    Beat,
    Fanout,
    JobRecord,
    JobState,
    LeaseStatus,
    NewJob,
    Outcome,
    OutcomeKind,
    WorkerRecord,
)
from taskrunner.errors import ConfigurationError
from taskrunner.memory.activity import ActivityLog
from taskrunner.memory.inspection import MemoryInspection


@dataclass(slots=True)
class _Job:
    id: str
    task: str
    queue: str
    payload: bytes
    priority: int
    max_attempts: int
    key: str | None
    enqueued_at: float
    run_at: float
    state: JobState
    seq: int = 0  # enqueue order: breaks ties between jobs due at the same time
    version: int = 0  # bumped whenever the job enters a queue, so stale heap entries are skipped
    attempt: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    lease_until: float | None = None
    worker: str | None = None
    result: bytes | None = None
    error: bytes | None = None
    progress: bytes | None = None
    cancel_requested: bool = False
    expires_at: float | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)

    def record(self) -> JobRecord:
        # positional, in JobRecord's field order: this runs once per claim
        return JobRecord(
            self.id, self.task, self.queue, self.payload, self.state, self.priority,
            self.attempt, self.max_attempts, self.enqueued_at, self.run_at, self.key,
            self.started_at, self.finished_at, self.lease_until, self.worker, self.result,
            self.error, self.progress, self.cancel_requested,
        )  # fmt: skip


class MemoryBackend(MemoryInspection):
    """All jobs in dicts and heaps of one process. `clock` is injectable for tests."""

    def __init__(self, url: str = "memory://", *, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._keys: dict[tuple[str, str], str] = {}  # (queue, dedup key) -> holder's id
        self._ready: dict[str, list[tuple[int, float, int, int, str]]] = {}
        self._delayed: list[tuple[float, int, int, str]] = []
        self._expiring: list[tuple[float, str]] = []
        self._running: dict[str, _Job] = {}
        self._counts: dict[str, dict[JobState, int]] = {}
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._finish_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._activity = ActivityLog()
        self._workers: dict[str, tuple[WorkerRecord, float]] = {}
        self._cancel_requests = Fanout()

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def now(self) -> float:
        return self._clock()

    # -- internal state changes ------------------------------------------------------------

    def _count(self, job: _Job, state: JobState, delta: int) -> None:
        counts = self._counts.get(job.queue)
        if counts is None:
            counts = self._counts[job.queue] = dict.fromkeys(JobState, 0)
        counts[state] += delta

    def _set_state(self, job: _Job, state: JobState) -> None:
        counts = self._counts.get(job.queue)
        if counts is None:
            counts = self._counts[job.queue] = dict.fromkeys(JobState, 0)
        counts[job.state] -= 1
        counts[state] += 1
        if job.state is JobState.RUNNING:
            self._running.pop(job.id, None)
        elif state is JobState.RUNNING:
            self._running[job.id] = job
        job.state = state

    def _queue(self, job: _Job, now: float) -> None:
        """Put a job where claim finds it: ready if due, delayed otherwise."""
        job.version += 1
        if job.run_at <= now:
            self._set_state(job, JobState.QUEUED)
            entry = (job.priority, job.run_at, job.seq, job.version, job.id)
            heapq.heappush(self._ready.setdefault(job.queue, []), entry)
            self._wakeup.set()
        else:
            self._set_state(job, JobState.SCHEDULED)
            heapq.heappush(self._delayed, (job.run_at, job.seq, job.version, job.id))
            # a waiting worker must recompute how long to sleep
            self._wakeup.set()

    def _promote(self, now: float) -> None:
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            _, _, version, job_id = heapq.heappop(delayed)
            job = self._jobs.get(job_id)
            if job is not None and job.version == version and job.state is JobState.SCHEDULED:
                self._queue(job, now)

    def _finish(self, job: _Job, state: JobState, now: float, ttl: float | None) -> None:
        self._set_state(job, state)
        job.finished_at = now
        job.lease_until = None
        job.version += 1
        if ttl is not None:
            job.expires_at = now + ttl
            heapq.heappush(self._expiring, (job.expires_at, job.id))
        waiters = self._finish_waiters.pop(job.id, None)
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _expire(self, now: float) -> None:
        """Drop the finished records whose retention has ended. Every read and enqueue calls
        this first, so an expired record is never seen and never holds its key, whether or
        not a worker's reclaim has run."""
        expiring = self._expiring
        while expiring and expiring[0][0] <= now:
            expires_at, job_id = heapq.heappop(expiring)
            old = self._jobs.get(job_id)
            if old is not None and old.expires_at == expires_at and old.state in FINISHED_STATES:
                self._delete(old)

    def _delete(self, job: _Job) -> None:
        del self._jobs[job.id]
        self._count(job, job.state, -1)
        self._running.pop(job.id, None)
        if job.key is not None and self._keys.get((job.queue, job.key)) == job.id:
            del self._keys[job.queue, job.key]

    # -- the protocol ----------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[str]:
        if connection is not None:
            raise ConfigurationError(
                "the memory backend cannot enqueue inside a caller's transaction; "
                "connection= works with the Postgres backend"
            )
        now = self._clock()
        self._expire(now)
        ids: list[str] = []
        for new in jobs:
            if new.id in self._jobs:  # the same job sent again: keep what is stored
                ids.append(new.id)
                continue
            if new.key is not None:  # a key is unique within its queue
                holder = self._keys.get((new.queue, new.key))
                if holder is not None:
                    ids.append(holder)
                    continue
                self._keys[new.queue, new.key] = new.id
            run_at = new.at if new.at is not None else now + new.delay
            job = _Job(
                id=new.id,
                task=new.task,
                queue=new.queue,
                payload=new.payload,
                priority=new.priority,
                max_attempts=new.max_attempts,
                key=new.key,
                enqueued_at=now,
                run_at=run_at,
                state=JobState.QUEUED,
                seq=next(self._seq),
            )
            self._jobs[job.id] = job
            self._count(job, JobState.QUEUED, +1)
            self._queue(job, now)
            ids.append(job.id)
        return ids

    async def claim(
        self, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        now = self._clock()
        self._promote(now)
        heaps = [heap for queue in queues if (heap := self._ready.get(queue))]
        claimed: list[JobRecord] = []
        while heaps and len(claimed) < limit:
            heap = min(heaps, key=lambda h: h[0]) if len(heaps) > 1 else heaps[0]
            _, _, _, version, job_id = heapq.heappop(heap)
            if not heap:
                heaps.remove(heap)
            job = self._jobs.get(job_id)
            if job is None or job.version != version or job.state is not JobState.QUEUED:
                continue
            self._set_state(job, JobState.RUNNING)
            job.attempt += 1
            job.started_at = now
            job.lease_until = now + lease
            job.worker = worker
            job.cancel_requested = False
            claimed.append(job.record())
        return claimed

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        now = self._clock()
        statuses: list[LeaseStatus] = []
        for beat in beats:
            job = self._running.get(beat.job_id)
            if job is None or job.attempt != beat.attempt:
                statuses.append(LeaseStatus.LOST)
                continue
            job.lease_until = now + lease
            if beat.progress is not None:
                job.progress = beat.progress
            statuses.append(LeaseStatus.CANCEL if job.cancel_requested else LeaseStatus.HELD)
        return statuses

    async def finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        now = self._clock()
        accepted: list[bool] = []
        for outcome in outcomes:
            job = self._running.get(outcome.job_id)
            if job is None or job.attempt != outcome.attempt:
                accepted.append(False)
                continue
            self._apply(job, outcome, now)
            accepted.append(True)
        return accepted

    def _ended(
        self, job: _Job, now: float, outcome: AttemptOutcome, error: bytes | None = None
    ) -> None:
        """Log the end of the job's current attempt."""
        job.attempts.append(
            AttemptRecord(job.attempt, job.worker, job.started_at, now, outcome, error)
        )
        runtime = now - job.started_at if job.started_at is not None else 0.0
        self._activity.record(job.queue, now, runtime, outcome)

    def _apply(self, job: _Job, outcome: Outcome, now: float) -> None:
        kind = outcome.kind
        self._ended(job, now, AttemptOutcome(kind.value), outcome.error)
        if kind is OutcomeKind.SUCCEEDED:
            job.result = outcome.result
            self._finish(job, JobState.SUCCEEDED, now, outcome.ttl)
        elif kind is OutcomeKind.FAILED:
            job.error = outcome.error
            self._finish(job, JobState.FAILED, now, outcome.ttl)
        elif kind is OutcomeKind.CANCELLED:
            self._finish(job, JobState.CANCELLED, now, outcome.ttl)
        else:
            job.lease_until = None
            job.worker = None
            if kind is OutcomeKind.RETRY:
                job.error = outcome.error
                job.run_at = now + outcome.delay
            else:  # RELEASED: the attempt did not count
                job.max_attempts += 1
            self._queue(job, now)

    async def get(self, ids: Sequence[str]) -> list[JobRecord | None]:
        now = self._clock()
        self._expire(now)
        self._promote(now)
        return [self._full_record(job_id) for job_id in ids]

    def _full_record(self, job_id: str) -> JobRecord | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        record = job.record()
        record.attempts = list(job.attempts)
        return record

    async def cancel(self, ids: Sequence[str], ttl: float | None) -> list[JobState | None]:
        now = self._clock()
        self._expire(now)
        self._promote(now)
        states: list[JobState | None] = []
        asked: list[str] = []
        for job_id in ids:
            job = self._jobs.get(job_id)
            if job is None:
                states.append(None)
                continue
            if job.state in (JobState.QUEUED, JobState.SCHEDULED):
                self._finish(job, JobState.CANCELLED, now, ttl)
            elif job.state is JobState.RUNNING:
                job.cancel_requested = True
                asked.append(job_id)
            states.append(job.state)
        if asked:
            self._cancel_requests.publish(asked)
        return states

    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        """Listen for cancel requests of running jobs (see `CancelSignals`)."""
        return self._cancel_requests.inbox()

    async def retry(self, ids: Sequence[str]) -> list[bool]:
        now = self._clock()
        self._expire(now)
        self._promote(now)
        done: list[bool] = []
        for job_id in ids:
            job = self._jobs.get(job_id)
            if job is None or job.state not in (
                JobState.FAILED,
                JobState.CANCELLED,
                JobState.SCHEDULED,
            ):
                done.append(False)
                continue
            if job.state in FINISHED_STATES:
                job.max_attempts = max(job.max_attempts, job.attempt + 1)
                job.finished_at = None
                job.expires_at = None
                job.cancel_requested = False
            job.run_at = now
            self._queue(job, now)
            done.append(True)
        return done

    async def reclaim(self) -> list[str]:
        now = self._clock()
        expired = [
            job
            for job in self._running.values()
            if job.lease_until is not None and job.lease_until <= now
        ]
        for job in expired:
            self._ended(job, now, AttemptOutcome.LOST)
            job.lease_until = None
            job.worker = None
            self._queue(job, now)
        self._expire(now)
        return [job.id for job in expired]

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        now = self._clock()
        self._promote(now)
        if any(self._ready.get(queue) for queue in queues):
            return
        if self._delayed:
            timeout = min(timeout, max(self._delayed[0][0] - now, 0.0))
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def wait_finished(self, job_id: str, timeout: float) -> JobRecord | None:
        self._expire(self._clock())
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if job.state in FINISHED_STATES:
            return job.record()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finish_waiters.setdefault(job_id, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            waiters = self._finish_waiters.get(job_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            return None
        self._expire(self._clock())
        job = self._jobs.get(job_id)
        return job.record() if job is not None else None

    async def stats(self, queues: Sequence[str] | None = None) -> dict[str, dict[JobState, int]]:
        now = self._clock()
        self._expire(now)
        self._promote(now)
        names = self._counts.keys() if queues is None else queues
        return {
            queue: dict(self._counts.get(queue) or dict.fromkeys(JobState, 0)) for queue in names
        }

    async def purge(
        self,
        states: Sequence[JobState],
        finished_before: float | None = None,
        queue: str | None = None,
    ) -> int:
        self._expire(self._clock())
        wanted = set(states) - {JobState.RUNNING}
        doomed = [
            job
            for job in self._jobs.values()
            if job.state in wanted
            and (queue is None or job.queue == queue)
            and (
                finished_before is None
                or (job.finished_at is not None and job.finished_at < finished_before)
            )
        ]
        for job in doomed:
            job.version += 1
            self._delete(job)
        return len(doomed)
