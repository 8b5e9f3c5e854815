"""The claim: due jobs of the given queues in claim order, each judged by its limit and
rate (the semantics of `taskrunner.memory.flow`), in one `BEGIN IMMEDIATE` transaction.

A job that may not start now is set aside (`parked`, with `held` saying why), out of the
claim's index, so that however many wait they block nobody. It comes back when a slot of its
limit key frees (`jobs.refill`, in the same transaction as the end of the attempt that freed
it) or when its rate window opens (`parked_until`, checked at the start of each claim).
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from taskrunner.backend import JobRecord
from taskrunner_sqlite.queries import sql
from taskrunner_sqlite.records import job_record


def claim(
    conn: sqlite3.Connection,
    now: float,
    queues: Sequence[str],
    limit: int,
    worker: str,
    lease: float,
) -> list[JobRecord]:
    paused = {queue for (queue,) in conn.execute(sql("paused"))}
    live = [queue for queue in dict.fromkeys(queues) if queue not in paused]
    if not live or limit <= 0:
        return []
    conn.execute(sql("promote"), (now,))
    for queue in live:
        conn.execute(sql("unpark_rates"), (queue, now))
    claimed: list[JobRecord] = []
    while len(claimed) < limit:
        rows = _candidates(conn, live, limit - len(claimed))
        if not rows:
            break
        claimed += _take(conn, now, rows, worker, lease)
    return claimed


def _take(
    conn: sqlite3.Connection, now: float, rows: list[Any], worker: str, lease: float
) -> list[JobRecord]:
    """Start the candidates that the gate admits (in one statement), set the others aside;
    answers the started ones in claim order."""
    admitted: list[int] = []
    taken: dict[tuple[str, str], int] = {}  # limit slots taken by this round's admissions
    for row in rows:
        held, until = _judge(conn, row, now, taken)
        if held is None:
            admitted.append(row[0])
        else:
            conn.execute(sql("park_job"), (held, until, row[0]))
    if not admitted:
        return []
    args = (now, now + lease, worker, json.dumps(admitted))
    started = {row[0]: row[1:] for row in conn.execute(sql("take_jobs"), args)}
    return [job_record(started[seq], now) for seq in admitted]


def _candidates(conn: sqlite3.Connection, queues: list[str], want: int) -> list[Any]:
    """The first `want` due jobs of `queues` in claim order (priority, due time, enqueue)."""
    if len(queues) == 1:
        return conn.execute(sql("ready"), (queues[0], want)).fetchall()
    per_queue = [conn.execute(sql("ready"), (queue, want)).fetchall() for queue in queues]
    merged = heapq.merge(*per_queue, key=lambda row: (row[1], row[2], row[0]))
    return [row for _, row in zip(range(want), merged, strict=False)]


def _judge(
    conn: sqlite3.Connection, row: Any, now: float, taken: dict[tuple[str, str], int]
) -> tuple[str | None, float | None]:
    """Whether the job may start now: (None, None) if so (its rate start and its limit slot,
    in `taken`, are recorded), else why not and, for a rate, when its window opens."""
    _, _, _, queue, limit_key, limit_max, rate_key, rate_max, rate_per = row
    if limit_key is not None:
        (running,) = conn.execute(sql("limit_running"), (queue, limit_key)).fetchone()
        if running + taken.get((queue, limit_key), 0) >= limit_max:
            return "limit", None
    if rate_key is not None:
        since = now - rate_per
        args = (queue, rate_key, since, rate_max)
        starts = [start for (start,) in conn.execute(sql("rate_starts"), args)]
        if len(starts) >= rate_max:
            return "rate", starts[-1] + rate_per
        conn.execute(sql("trim_rate"), (queue, rate_key, since))
        conn.execute(sql("start_rate"), (queue, rate_key, now))
    if limit_key is not None:
        taken[queue, limit_key] = taken.get((queue, limit_key), 0) + 1
    return None, None
