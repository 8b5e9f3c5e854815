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
    names = None if queues is None else json.dumps(list(queues))
    counts: dict[str, dict[JobState, int]] = {
        queue: dict.fromkeys(JobState, 0) for queue in queues or ()
    }
    for queue, state, n in conn.execute(sql("stats"), (now, names)):
        counts.setdefault(queue, dict.fromkeys(JobState, 0))[STATES[state]] = n
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
