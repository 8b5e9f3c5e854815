"""Reads, each run by `SqliteStore.read` in one read transaction: records, counts, and
what an idle worker waits for."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from taskrunner.backend import JobRecord, JobState
from taskrunner_sqlite.jobs import gone
from taskrunner_sqlite.queries import sql
from taskrunner_sqlite.records import STATES, attempt_record, job_record


def get(conn: sqlite3.Connection, now: float, ids: Sequence[str]) -> list[JobRecord | None]:
    records: list[JobRecord | None] = []
    for job_id in ids:
        row = conn.execute(sql("get"), (job_id,)).fetchone()
        if row is None or gone(row[-1], now):
            records.append(None)
            continue
        record = job_record(row, now)
        record.attempts = [attempt_record(a) for a in conn.execute(sql("attempts_of"), (job_id,))]
        records.append(record)
    return records


def stats(
    conn: sqlite3.Connection, now: float, queues: Sequence[str] | None
) -> dict[str, dict[JobState, int]]:
    """The jobs per queue and state, from the counts the triggers of
    migrations/0005_counts.sql keep: a scheduled job that is due counts as queued, and a
    record past its retention is not counted. Without `queues`, the queues that hold a job."""
    names = None if queues is None else json.dumps(list(queues))
    running = dict(conn.execute(sql("stats_running")).fetchall())
    later = dict(conn.execute(sql("stats_later"), (now, names)).fetchall())
    soon = dict(conn.execute(sql("stats_soon"), (now,)).fetchall())
    found: dict[str, dict[JobState, int]] = {}
    rows = conn.execute(sql("stats_counts"), (names,))
    for queue, waiting, ready, stored, succeeded, failed, cancelled in rows:
        busy, scheduled = running.get(queue, 0), later.get(queue, 0) + soon.get(queue, 0)
        found[queue] = {
            JobState.WAITING: waiting,
            JobState.QUEUED: ready - busy + stored - scheduled,
            JobState.SCHEDULED: scheduled,
            JobState.RUNNING: busy,
            JobState.SUCCEEDED: succeeded,
            JobState.FAILED: failed,
            JobState.CANCELLED: cancelled,
        }
    for queue, state, n in conn.execute(sql("stats_expired"), (now,)):
        if queue in found:
            found[queue][STATES[state]] -= n
    counts = {queue: dict.fromkeys(JobState, 0) for queue in queues or ()}
    counts.update(
        (queue, counted)
        for queue, counted in found.items()
        if queues is not None or any(counted.values())
    )
    return counts


def next_due(conn: sqlite3.Connection, now: float, queues: Sequence[str]) -> float | None:
    """Seconds until a job of the unpaused `queues` may be claimed (0: now; None: no job
    waits on time)."""
    paused = {queue for (queue,) in conn.execute(sql("paused"))}
    soonest: float | None = None
    for queue in queues:
        if queue in paused:
            continue
        (moment,) = conn.execute(sql("next_due"), (queue,)).fetchone()
        if moment < 1e300 and (soonest is None or moment < soonest):
            soonest = moment
    return None if soonest is None else max(soonest - now, 0.0)


def cancel_requests(
    conn: sqlite3.Connection, now: float, after: int | None
) -> tuple[int, list[str]]:
    """The cancel requests logged after number `after` (None: the last number, no ids)."""
    if after is None:
        (last,) = conn.execute(sql("last_cancel")).fetchone()
        return last, []
    rows = conn.execute(sql("cancel_requested"), (after,)).fetchall()
    return (rows[-1][0] if rows else after), [job_id for _, job_id in rows]
