"""Upkeep, in write transactions: leases that expired, records whose retention ended,
closed dedup windows, old activity and silent workers; and `purge` and `delete`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from taskrunner.backend import JobState
from taskrunner.backend.inspection import SECONDS_KEPT
from taskrunner_sqlite.jobs import due_state, end_attempt, refill
from taskrunner_sqlite.queries import sql

# how long a cancel request is kept for other processes' listeners, which read it within
# a poll: a listener that misses it still learns of it at the worker's next heartbeat
CANCELS_KEPT = 60.0


def reclaim(conn: sqlite3.Connection, now: float, batch: int) -> list[str]:
    """Put back up to `batch` running jobs whose lease expired; prune the rest."""
    put_back = []
    for row in conn.execute(sql("expired_leases"), (now, batch)).fetchall():
        job_id, attempt, queue, worker, started_at, run_at, max_attempts, key, key_max = row
        end_attempt(conn, now, (job_id, attempt, queue, worker, started_at), "lost")
        conn.execute(
            sql("requeue_job"), (due_state(run_at, now), run_at, max_attempts, None, job_id)
        )
        refill(conn, queue, key, key_max)
        put_back.append(job_id)
    conn.execute(sql("prune_expired"), (now, batch))
    conn.execute(sql("close_windows"), (now,))
    conn.execute(sql("prune_activity"), (now - SECONDS_KEPT,))
    conn.execute(sql("prune_workers"), (now,))
    conn.execute(sql("prune_cancels"), (now - CANCELS_KEPT,))
    conn.execute(sql("prune_batches"), (now,))
    return put_back


def purge(
    conn: sqlite3.Connection,
    now: float,
    states: Sequence[JobState],
    finished_before: float | None,
    queue: str | None,
) -> int:
    """Delete jobs in `states` (see `Backend.purge`); answers how many."""
    conn.execute(sql("promote"), (now,))
    while conn.execute(sql("prune_expired"), (now, 10_000)).rowcount:
        pass  # records already gone are not counted
    names = json.dumps([JobState(state).value for state in states])
    return conn.execute(sql("purge"), (names, finished_before, queue)).rowcount


def delete(conn: sqlite3.Connection, now: float, ids: Sequence[str]) -> list[bool]:
    """Delete the finished jobs among `ids` (see `JobDeletion.delete`); whether each was."""
    return [conn.execute(sql("delete_finished"), (job_id, now)).rowcount == 1 for job_id in ids]
