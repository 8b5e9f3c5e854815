"""The memory backend's side of `taskrunner.backend.Inspection`: listing jobs, activity and
the registry of workers, read from the same `Store` the backend changes."""

from __future__ import annotations

from collections.abc import Sequence

from taskrunner.backend import (
    FlowCounts,
    JobFilter,
    JobRecord,
    JobState,
    QueueActivity,
    WorkerRecord,
)
from taskrunner.memory.store import Store, StoredJob


def _matches(job: StoredJob, where: JobFilter) -> bool:
    return not (
        (where.queue is not None and job.queue != where.queue)
        or (where.state is not None and job.state is not where.state)
        or (where.task is not None and job.task != where.task)
        or (where.since is not None and job.enqueued_at < where.since)
        or (where.until is not None and job.enqueued_at >= where.until)
    )


class MemoryInspection:
    """The inspection methods over `store`; the workers' registry is kept here."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._workers: dict[str, tuple[WorkerRecord, float]] = {}

    async def list_jobs(
        self, where: JobFilter, limit: int, before: str | None = None
    ) -> list[JobRecord]:
        store = self._store
        now = store.clock()
        store.expire(now)
        store.promote(now)
        found: list[JobRecord] = []
        for job in reversed(store.jobs.values()):  # enqueue order is id order
            if before is not None and job.id >= before:
                continue
            if not _matches(job, where):
                continue
            found.append(job.record())
            if len(found) >= limit:
                break
        return found

    async def activity(
        self, queues: Sequence[str] | None = None, since: float | None = None
    ) -> dict[str, QueueActivity]:
        store = self._store
        now = store.clock()
        store.promote(now)
        names = store.activity.queues() + list(store.counts) if queues is None else queues
        result: dict[str, QueueActivity] = {}
        for queue in dict.fromkeys(names):
            snapshot = store.activity.snapshot(queue, since)
            due = [
                job.run_at
                for job in store.jobs.values()
                if job.queue == queue and job.state is JobState.QUEUED
            ]
            snapshot.oldest_due_at = min(due, default=None)
            result[queue] = snapshot
        return result

    async def flow_counts(self, queues: Sequence[str]) -> dict[str, FlowCounts]:
        store = self._store
        store.promote(store.clock())
        found = {queue: FlowCounts() for queue in queues}
        for job in store.jobs.values():
            if (counts := found.get(job.queue)) is None:
                continue
            if job.state is JobState.RUNNING and job.limit_key is not None:
                counts.limit_running += 1
            elif job.state is JobState.QUEUED and job.held is not None:
                counts.held += 1
        return found

    async def register_worker(self, worker: WorkerRecord, ttl: float) -> None:
        now = self._store.clock()
        worker.last_seen = now
        self._workers[worker.id] = (worker, now + ttl)

    async def unregister_worker(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    async def workers(self) -> list[WorkerRecord]:
        now = self._store.clock()
        for worker_id in [w for w, (_, until) in self._workers.items() if until <= now]:
            del self._workers[worker_id]
        return [worker for worker, _ in self._workers.values()]
