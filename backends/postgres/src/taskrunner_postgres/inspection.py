"""The Postgres side of `taskrunner.backend.inspection`: listing jobs, activity, workers.

Listing reads job ids newest first from an index and merges the branches: for a queue and
each stored state the filter allows, `(queue, state, id)`; across queues, the same for each
queue in turn (skipping from one to the next along the index); without queue or state, the
primary key. Running jobs, few, come from their own partial index. Ids are UUIDv7, so id
order is creation order, and enqueue-time bounds narrow the id range before the exact test
on `enqueued_at`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskrunner.backend import (
    CLOCK_MARGIN,
    AttemptOutcome,
    FlowCounts,
    JobFilter,
    JobRecord,
    JobState,
    QueueActivity,
    WorkerRecord,
    id_floor,
)
from taskrunner.backend.inspection import MINUTES_KEPT, RECENT_LIMIT
from taskrunner_postgres.records import OUTCOMES, canonical_id, job_record, worker_record
from taskrunner_postgres.store import PostgresStore

if TYPE_CHECKING:
    from taskrunner_postgres.migrate import Connection
    from taskrunner_postgres.queries import Queries

LOWEST_ID = "00000000-0000-0000-0000-000000000000"
HIGHEST_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
STORED_STATES = [state.value for state in JobState]
# the stored states whose rows may show as each state (a due scheduled job shows as queued)
_READ: dict[JobState, tuple[str, ...]] = {state: (state.value,) for state in JobState}
_READ[JobState.QUEUED] = ("queued", "scheduled")
# the outcome columns of sql/activity_minutes.sql and sql/activity_seconds.sql, in order
_OUTCOME_COLUMNS = (
    AttemptOutcome.SUCCEEDED,
    AttemptOutcome.FAILED,
    AttemptOutcome.RETRY,
    AttemptOutcome.CANCELLED,
    AttemptOutcome.RELEASED,
    AttemptOutcome.LOST,
)


def _by_outcome(counts: Sequence[int]) -> dict[AttemptOutcome, int]:
    """The nonzero counts of a row of outcome columns (see _OUTCOME_COLUMNS)."""
    return {o: n for o, n in zip(_OUTCOME_COLUMNS, counts, strict=True) if n}


def id_bounds(where: JobFilter, before: str | None) -> tuple[str, str]:
    """The id range [low, high) that holds every job `where` and `before` allow (`before`
    in canonical form)."""
    high = HIGHEST_ID if before is None else before
    if where.until is not None:
        high = min(high, id_floor(where.until + CLOCK_MARGIN))
    low = LOWEST_ID if where.since is None else id_floor(where.since - CLOCK_MARGIN)
    return low, high


def listing(
    queries: Queries, where: JobFilter, limit: int, before: str | None
) -> tuple[str, list[Any]] | None:
    """The statement that lists the jobs `where` allows, and its arguments; None when no
    job can match (`before` is not a job id, or the bounds leave no ids)."""
    if before is not None:
        before = canonical_id(before)
        if before is None:
            return None
    low, high = id_bounds(where, before)
    if limit <= 0 or low >= high:
        return None
    arguments: list[Any] = [limit, where.task, high, low, where.since, where.until]
    if where.queue is None and where.state is None:
        return queries.list_jobs_all, arguments
    arguments.append(STORED_STATES if where.state is None else list(_READ[where.state]))
    arguments.append(None if where.state is None else where.state.value)
    if where.queue is None:
        return queries.list_jobs, arguments
    return queries.list_jobs_queue, [*arguments, where.queue]


async def fetch_planned(conn: Connection, query: str, arguments: Sequence[Any]) -> list[Any]:
    """Run `query` planned for these arguments. A statement asyncpg caches may be run with
    Postgres's generic plan after a few runs, which knows no LIMIT: for `ORDER BY id DESC
    LIMIT $1` it may then prefer reading a whole state of a queue and sorting it to walking
    the index newest first. An unnamed statement is planned anew at every run."""
    statement = await conn.prepare(query, name="")
    return await statement.fetch(*arguments)


class PostgresInspection:
    """What PostgresBackend can tell about past and present work (see `Inspection`), read
    on the same `PostgresStore`."""

    _queries: Queries
    _store: PostgresStore

    async def list_jobs(
        self, where: JobFilter, limit: int, before: str | None = None
    ) -> list[JobRecord]:
        found = listing(self._queries, where, limit, before)
        if found is None:
            return []
        query, arguments = found
        rows = await self._store.on_pool(
            "listing jobs", lambda conn: fetch_planned(conn, query, arguments), True
        )
        return [job_record(row) for row in rows]

    async def activity(
        self, queues: Sequence[str] | None = None, since: float | None = None
    ) -> dict[str, QueueActivity]:
        queries = self._queries

        async def read(conn: Connection) -> dict[str, QueueActivity]:
            if queues is None:
                names = sorted(row[0] for row in await conn.fetch(queries.activity_queues))
            else:
                names = list(dict.fromkeys(queues))
            found = {name: QueueActivity() for name in names}
            if not names:
                return found
            for queue, minute, *counts in await conn.fetch(
                queries.activity_minutes, names, MINUTES_KEPT
            ):
                if by_outcome := _by_outcome(counts):
                    found[queue].per_minute[minute] = by_outcome
            if since is not None:
                for queue, second, *counts in await conn.fetch(
                    queries.activity_seconds, names, math.floor(since)
                ):
                    if by_outcome := _by_outcome(counts):
                        found[queue].per_second[second] = by_outcome
            for queue, ended_at, runtime, outcome in await fetch_planned(
                conn, queries.activity_recent, [names, RECENT_LIMIT, MINUTES_KEPT]
            ):
                found[queue].recent.append(
                    (ended_at, max(runtime, 0.0), OUTCOMES.get(outcome, AttemptOutcome.FAILED))
                )
            for activity in found.values():
                activity.recent.sort(key=lambda entry: entry[0], reverse=True)
            for queue, due in await conn.fetch(queries.oldest_due, names):
                found[queue].oldest_due_at = due
            return found

        return await self._store.on_pool("reading activity", read, True)

    async def flow_counts(self, queues: Sequence[str]) -> dict[str, FlowCounts]:
        names = list(dict.fromkeys(queues))
        rows = await self._store.fetch(
            "counting held jobs", self._queries.flow_counts, names, again=True
        )
        return {queue: FlowCounts(running, held) for queue, running, held in rows}

    async def register_worker(self, worker: WorkerRecord, ttl: float) -> None:
        await self._store.fetch(
            "registering a worker",
            self._queries.register_worker,
            worker.id,
            worker.hostname,
            worker.pid,
            list(worker.queues),
            worker.concurrency,
            worker.running,
            float(worker.started_at),
            float(ttl),
            again=True,
        )

    async def unregister_worker(self, worker_id: str) -> None:
        await self._store.fetch(
            "unregistering a worker", self._queries.unregister_worker, worker_id, again=True
        )

    async def workers(self) -> list[WorkerRecord]:
        rows = await self._store.fetch("listing workers", self._queries.workers, again=True)
        return [worker_record(row) for row in rows]
