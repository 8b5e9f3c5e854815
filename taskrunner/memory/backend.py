"""The memory backend: one process, no I/O. The in-process mode and the reference semantics.

Every method runs without awaiting between reading and writing state, so each call is atomic
with respect to the event loop, as a Lua script or a SQL statement is on the other backends.
The state and its primitive changes are in `store`; the inspection reads in `inspection`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from taskrunner.backend import (
    ATTEMPT_OUTCOMES,
    FINISHED_STATES,
    AttemptOutcome,
    Beat,
    Fanout,
    FlowCounts,
    JobFilter,
    JobRecord,
    JobState,
    LeaseStatus,
    NewJob,
    Outcome,
    OutcomeKind,
    QueueActivity,
    WorkerRecord,
)
from taskrunner.backend.waiting import within
from taskrunner.errors import ConfigurationError, DependencyNotFound
from taskrunner.memory.batch_methods import BatchMethods
from taskrunner.memory.inspection import MemoryInspection
from taskrunner.memory.ready import take_in_order
from taskrunner.memory.store import QUEUED, Store, StoredJob

# read once (see `store.QUEUED`): `_apply` runs once per finished attempt
SUCCEEDED, SUCCESS = OutcomeKind.SUCCEEDED, JobState.SUCCEEDED


class MemoryBackend(BatchMethods):
    """All jobs in dicts and heaps of one process. `clock` is injectable for tests."""

    def __init__(self, url: str = "memory://", *, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self._store = Store(clock)
        self._inspection = MemoryInspection(self._store)
        self._cancel_requests = Fanout()
        self._task_specs: dict[str, bytes] = {}  # the task registry (`TaskRegistry`)

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def now(self) -> float:
        return self._store.clock()

    @property
    def clock(self) -> Callable[[], float]:
        """The clock the store judges every time on (`time.time` unless one was given)."""
        return self._store.clock

    async def next_change(self) -> float | None:
        """The earliest moment at which something falls due with nobody acting: a scheduled
        job or a retry, a rate window that held a job back, the end of a running job's
        lease. None when nothing waits on time. For tests that move a controlled clock
        from one such moment to the next (`taskrunner.testing`)."""
        store = self._store
        moments = [m for m in (store.next_due(), store.next_lease_end()) if m is not None]
        return min(moments, default=None)

    # -- the protocol ----------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[str]:
        if connection is not None:
            raise ConfigurationError(
                "the memory backend cannot enqueue inside a caller's transaction; "
                "connection= works with the Postgres backend"
            )
        store = self._store
        now = store.clock()
        store.expire(now)
        store.batches.check_open([new.batch_id for new in jobs if new.batch_id is not None])
        missing = store.missing_dependency(jobs)
        if missing is not None:
            raise DependencyNotFound(missing)
        return [store.store_new(new, now) for new in jobs]

    async def claim(
        self, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        store = self._store
        now = store.clock()
        store.promote(now)
        readies = [
            ready
            for queue in queues
            if queue not in store.paused and (ready := store.ready.get(queue))
        ]
        claimed: list[JobRecord] = []
        while readies and len(claimed) < limit:
            for entry in take_in_order(readies, limit - len(claimed)):
                job = store.jobs.get(entry[4])
                if job is None or job.version != entry[3] or job.state is not QUEUED:
                    continue  # a stale entry: the job moved since it was pushed
                if (job.limit_key is not None or job.rate_key is not None) and not (
                    store.gate.admit(job, entry, now)
                ):
                    continue  # set aside until its key frees
                claimed.append(store.start(job, now, lease, worker))
        return claimed

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        store = self._store
        now = store.clock()
        statuses: list[LeaseStatus] = []
        for beat in beats:
            job = store.running.get(beat.job_id)
            if job is None or job.attempt != beat.attempt:
                statuses.append(LeaseStatus.LOST)
                continue
            job.lease_until = now + lease
            if beat.progress is not None:
                job.progress = beat.progress
            statuses.append(LeaseStatus.CANCEL if job.cancel_requested else LeaseStatus.HELD)
        return statuses

    async def finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        store = self._store
        now = store.clock()
        accepted: list[bool] = []
        for outcome in outcomes:
            job = store.running.get(outcome.job_id)
            if job is None or job.attempt != outcome.attempt:
                accepted.append(False)
                continue
            self._apply(job, outcome, now)
            accepted.append(True)
        return accepted

    def _apply(self, job: StoredJob, outcome: Outcome, now: float) -> None:
        store = self._store
        kind = outcome.kind
        store.end_attempt(job, now, ATTEMPT_OUTCOMES[kind], outcome.error)
        if job.limit_key is not None:
            store.gate.free_slot(job)
        if kind is SUCCEEDED:
            job.result = outcome.result
            store.finish(job, SUCCESS, now, outcome.ttl)
        elif kind is OutcomeKind.FAILED:
            job.error = outcome.error
            store.finish(job, JobState.FAILED, now, outcome.ttl)
        elif kind is OutcomeKind.CANCELLED:
            if outcome.error is not None:
                job.error = outcome.error
            store.finish(job, JobState.CANCELLED, now, outcome.ttl)
        else:
            job.lease_until = None
            job.worker = None
            if kind is OutcomeKind.RETRY:
                job.error = outcome.error
                job.run_at = now + outcome.delay
            else:  # RELEASED: the attempt did not count; back after its delay, if any
                job.max_attempts += 1
                if outcome.delay > 0:
                    job.run_at = now + outcome.delay
            store.queue(job, now)

    async def get(self, ids: Sequence[str]) -> list[JobRecord | None]:
        store = self._store
        now = store.clock()
        store.expire(now)
        store.promote(now)
        return [store.full_record(job_id) for job_id in ids]

    async def cancel(self, ids: Sequence[str], ttl: float | None) -> list[JobState | None]:
        store = self._store
        now = store.clock()
        store.expire(now)
        store.promote(now)
        states: list[JobState | None] = []
        asked: list[str] = []
        for job_id in ids:
            job = store.jobs.get(job_id)
            if job is None:
                states.append(None)
                continue
            if job.state in (JobState.QUEUED, JobState.SCHEDULED, JobState.WAITING):
                was_queued = job.state is JobState.QUEUED
                store.finish(job, JobState.CANCELLED, now, ttl)
                if was_queued:
                    store.gate.left_unrun(job)
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
        store = self._store
        now = store.clock()
        store.expire(now)
        store.promote(now)
        done: list[bool] = []
        for job_id in ids:
            job = store.jobs.get(job_id)
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
            store.queue(job, now)
            done.append(True)
        return done

    async def reclaim(self) -> list[str]:
        store = self._store
        now = store.clock()
        expired = [
            job
            for job in store.running.values()
            if job.lease_until is not None and job.lease_until <= now
        ]
        for job in expired:
            store.end_attempt(job, now, AttemptOutcome.LOST)
            store.gate.free_slot(job)
            job.lease_until = None
            job.worker = None
            store.queue(job, now)
        store.expire(now)
        closed = [place for place, (_, until) in store.windows.items() if until <= now]
        for place in closed:
            del store.windows[place]
        return [job.id for job in expired]

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        store = self._store
        now = store.clock()
        store.promote(now)
        if any(store.ready.get(queue) for queue in queues if queue not in store.paused):
            return
        due = store.next_due()
        if due is not None:
            timeout = min(timeout, max(due - now, 0.0))
        store.wakeup.clear()
        await within(store.wakeup.wait(), timeout)

    async def wait_finished(self, job_id: str, timeout: float) -> JobRecord | None:
        store = self._store
        store.expire(store.clock())
        job = store.jobs.get(job_id)
        if job is None:
            return None
        if job.state in FINISHED_STATES:
            return job.record()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        store.finish_waiters.setdefault(job_id, []).append(waiter)
        if not await within(waiter, timeout):
            waiters = store.finish_waiters.get(job_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            return None
        store.expire(store.clock())
        job = store.jobs.get(job_id)
        return job.record() if job is not None else None

    async def stats(self, queues: Sequence[str] | None = None) -> dict[str, dict[JobState, int]]:
        store = self._store
        now = store.clock()
        store.expire(now)
        store.promote(now)
        names = store.counts.keys() if queues is None else queues
        return {
            queue: dict(store.counts.get(queue) or dict.fromkeys(JobState, 0)) for queue in names
        }

    async def publish_tasks(self, specs: Mapping[str, bytes]) -> None:
        self._task_specs.update(specs)

    async def task_specs(self, names: Sequence[str] | None = None) -> dict[str, bytes]:
        specs = self._task_specs
        if names is None:
            return dict(specs)
        return {name: specs[name] for name in names if name in specs}

    async def dependents(self, job_id: str, limit: int = 100) -> list[str]:
        store = self._store
        waiting = (store.jobs.get(i) for i in store.dependents.get(job_id, ()))
        found = [job for job in waiting if job is not None and job.state is JobState.WAITING]
        return [job.id for job in sorted(found, key=lambda job: job.seq)[:limit]]

    async def pause(self, queues: Sequence[str]) -> None:
        self._store.paused.update(queues)

    async def resume(self, queues: Sequence[str]) -> None:
        store = self._store
        if store.paused.intersection(queues):
            store.paused.difference_update(queues)
            store.wakeup.set()

    async def paused(self) -> list[str]:
        return sorted(self._store.paused)

    async def purge(
        self,
        states: Sequence[JobState],
        finished_before: float | None = None,
        queue: str | None = None,
    ) -> int:
        store = self._store
        store.expire(store.clock())
        wanted = set(states) - {JobState.RUNNING}
        doomed = [
            job
            for job in store.jobs.values()
            if job.state in wanted
            and (queue is None or job.queue == queue)
            and (
                finished_before is None
                or (job.finished_at is not None and job.finished_at < finished_before)
            )
        ]
        for job in doomed:
            job.version += 1
            store.delete(job)
            if job.state is JobState.QUEUED:  # its key's set-aside jobs may run instead
                store.gate.left_unrun(job)
        return len(doomed)

    async def delete(self, ids: Sequence[str]) -> list[bool]:
        store = self._store
        store.expire(store.clock())
        deleted = []
        for job_id in ids:
            job = store.jobs.get(job_id)
            finished = job is not None and job.state in FINISHED_STATES
            if job is not None and finished:
                job.version += 1
                store.delete(job)
            deleted.append(finished)
        return deleted

    # -- inspection: the reads of `MemoryInspection` over the same store -------------------

    async def list_jobs(
        self, where: JobFilter, limit: int, before: str | None = None
    ) -> list[JobRecord]:
        return await self._inspection.list_jobs(where, limit, before)

    async def activity(
        self, queues: Sequence[str] | None = None, since: float | None = None
    ) -> dict[str, QueueActivity]:
        return await self._inspection.activity(queues, since)

    async def flow_counts(self, queues: Sequence[str]) -> dict[str, FlowCounts]:
        return await self._inspection.flow_counts(queues)

    async def register_worker(self, worker: WorkerRecord, ttl: float) -> None:
        await self._inspection.register_worker(worker, ttl)

    async def unregister_worker(self, worker_id: str) -> None:
        await self._inspection.unregister_worker(worker_id)

    async def workers(self) -> list[WorkerRecord]:
        return await self._inspection.workers()
