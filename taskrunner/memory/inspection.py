"""The memory backend's side of `taskrunner.inspection`: listing jobs, activity, workers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from taskrunner.backend import JobFilter, JobRecord, JobState, QueueActivity, WorkerRecord
from taskrunner.memory.activity import ActivityLog

if TYPE_CHECKING:
    from taskrunner.memory.backend import _Job


class MemoryInspection:
    """Mixed into MemoryBackend, whose state it reads."""

    _jobs: dict[str, _Job]
    _counts: dict[str, dict[JobState, int]]
    _activity: ActivityLog
    _workers: dict[str, tuple[WorkerRecord, float]]
    _clock: Callable[[], float]

    if TYPE_CHECKING:

        def _promote(self, now: float) -> None: ...
        def _expire(self, now: float) -> None: ...

    async def list_jobs(
        self, where: JobFilter, limit: int, before: str | None = None
    ) -> list[JobRecord]:
        now = self._clock()
        self._expire(now)
        self._promote(now)
        found: list[JobRecord] = []
        for job in reversed(self._jobs.values()):  # enqueue order is id order
            if before is not None and job.id >= before:
                continue
            if (
                (where.queue is not None and job.queue != where.queue)
                or (where.state is not None and job.state is not where.state)
                or (where.task is not None and job.task != where.task)
                or (where.since is not None and job.enqueued_at < where.since)
                or (where.until is not None and job.enqueued_at >= where.until)
            ):
                continue
            found.append(job.record())
            if len(found) >= limit:
                break
        return found

    async def activity(
        self, queues: Sequence[str] | None = None, since: float | None = None
    ) -> dict[str, QueueActivity]:
        now = self._clock()
        self._promote(now)
        names = self._activity.queues() + list(self._counts) if queues is None else queues
        result: dict[str, QueueActivity] = {}
        for queue in dict.fromkeys(names):
            snapshot = self._activity.snapshot(queue, since)
            due = [
                job.run_at
                for job in self._jobs.values()
                if job.queue == queue and job.state is JobState.QUEUED
            ]
            snapshot.oldest_due_at = min(due, default=None)
            result[queue] = snapshot
        return result

    async def register_worker(self, worker: WorkerRecord, ttl: float) -> None:
        now = self._clock()
        worker.last_seen = now
        self._workers[worker.id] = (worker, now + ttl)

    async def unregister_worker(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    async def workers(self) -> list[WorkerRecord]:
        now = self._clock()
        for worker_id in [w for w, (_, until) in self._workers.items() if until <= now]:
            del self._workers[worker_id]
        return [worker for worker, _ in self._workers.values()]
