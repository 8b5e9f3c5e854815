"""The SQLite backend's side of `taskrunner.backend.Inspection`: jobs listed by filter,
recent activity per queue (the `activity` table, kept an hour and a minute) and the
registry of live workers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from taskrunner.backend import (
    AttemptOutcome,
    FlowCounts,
    JobFilter,
    JobRecord,
    QueueActivity,
    WorkerRecord,
)
from taskrunner.backend.inspection import MINUTES_KEPT, RECENT_LIMIT
from taskrunner_sqlite.queries import sql
from taskrunner_sqlite.records import job_record
from taskrunner_sqlite.store import SqliteStore

Buckets = dict[int, dict[AttemptOutcome, int]]


def _buckets(conn: sqlite3.Connection, queue: str, width: int, start: float, end: float) -> Buckets:
    found: Buckets = {}
    for bucket, outcome, n in conn.execute(sql("activity_buckets"), (queue, width, start, end)):
        found.setdefault(bucket, {})[AttemptOutcome(outcome)] = n
    return found


def queue_activity(
    conn: sqlite3.Connection, now: float, queue: str, since: float | None
) -> QueueActivity:
    """The recent work of one queue."""
    recent = [
        (ended_at, runtime, AttemptOutcome(outcome))
        for ended_at, runtime, outcome in conn.execute(
            sql("activity_recent"), (queue, RECENT_LIMIT)
        )
    ]
    minute = int(now // 60)
    per_minute = _buckets(conn, queue, 60, (minute - MINUTES_KEPT + 1) * 60, now + 60)
    per_second: Buckets = {}
    if since is not None:
        first = int(since // 1)
        per_second = _buckets(conn, queue, 1, first, (first // 60 + 1) * 60)
    (oldest,) = conn.execute(sql("oldest_due"), (queue, now)).fetchone()
    return QueueActivity(recent, per_minute, oldest, per_second)


class SqliteInspection:
    """The inspection methods, on the backend's store."""

    _store: SqliteStore

    async def list_jobs(
        self, where: JobFilter, limit: int, before: str | None = None
    ) -> list[JobRecord]:
        def read(conn: sqlite3.Connection, now: float) -> list[JobRecord]:
            state = None if where.state is None else where.state.value
            args = {"now": now, "before": before, "queue": where.queue, "task": where.task,
                    "since": where.since, "until": where.until, "state": state,
                    "limit": limit}  # fmt: skip
            return [job_record(row, now) for row in conn.execute(sql("list_jobs"), args)]

        return await self._store.read("listing jobs", read)

    async def activity(
        self, queues: Sequence[str] | None = None, since: float | None = None
    ) -> dict[str, QueueActivity]:
        def read(conn: sqlite3.Connection, now: float) -> dict[str, QueueActivity]:
            names = queues
            if names is None:
                names = [queue for (queue,) in conn.execute(sql("known_queues"))]
            return {queue: queue_activity(conn, now, queue, since) for queue in names}

        return await self._store.read("reading activity", read)

    async def flow_counts(self, queues: Sequence[str]) -> dict[str, FlowCounts]:
        def read(conn: sqlite3.Connection, now: float) -> dict[str, FlowCounts]:
            return {
                queue: FlowCounts(*conn.execute(sql("flow_counts"), (queue,)).fetchone())
                for queue in queues
            }

        return await self._store.read("counting held jobs", read)

    async def register_worker(self, worker: WorkerRecord, ttl: float) -> None:
        def write(conn: sqlite3.Connection, now: float) -> None:
            worker.last_seen = now
            conn.execute(
                sql("register_worker"),
                (worker.id, worker.hostname, worker.pid, json.dumps(list(worker.queues)),
                 worker.concurrency, worker.running, worker.started_at, now, now + ttl),
            )  # fmt: skip

        await self._store.write("registering a worker", write)

    async def unregister_worker(self, worker_id: str) -> None:
        await self._store.write(
            "unregistering a worker",
            lambda conn, now: conn.execute(sql("unregister_worker"), (worker_id,)),
        )

    async def workers(self) -> list[WorkerRecord]:
        def read(conn: sqlite3.Connection, now: float) -> list[WorkerRecord]:
            return [
                WorkerRecord(i, host, pid, tuple(json.loads(queues)), n, running, started, seen)
                for i, host, pid, queues, n, running, started, seen in conn.execute(
                    sql("workers"), (now,)
                )
            ]

        return await self._store.read("reading workers", read)
