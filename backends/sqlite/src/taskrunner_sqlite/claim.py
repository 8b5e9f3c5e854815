"""The claim: due jobs of the given queues in claim order, each judged by its limit and
rate (the semantics of `taskrunner.memory.flow`), in one `BEGIN IMMEDIATE` transaction.

A job that may not start now is set aside (`parked`, with `held` saying why), out of the
claim's index, so that however many wait they block nobody. It comes back when a slot of its
limit key frees (`jobs.refill`, in the same transaction as the end of the attempt that freed
it) or when its rate window opens (`parked_until`, checked at the start of each claim).
"""

from __future__ import annotations

import heapq
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
        for row in rows:  # each is taken or set aside: the next round reads new ones
            held, until = _judge(conn, row, now)
            if held is not None:
                conn.execute(sql("park_job"), (held, until, row[0]))
                continue
            taken = conn.execute(sql("take_job"), (now, now + lease, worker, row[0])).fetchone()
            claimed.append(job_record(taken, now))
            if len(claimed) >= limit:
                break
    return claimed


def _candidates(conn: sqlite3.Connection, queues: list[str], want: int) -> list[Any]:
    """The first `want` due jobs of `queues` in claim order (priority, due time, enqueue)."""
    if len(queues) == 1:
        return conn.execute(sql("ready"), (queues[0], want)).fetchall()
    per_queue = [conn.execute(sql("ready"), (queue, want)).fetchall() for queue in queues]
    merged = heapq.merge(*per_queue, key=lambda row: (row[1], row[2], row[0]))
    return [row for _, row in zip(range(want), merged, strict=False)]


def _judge(conn: sqlite3.Connection, row: Any, now: float) -> tuple[str | None, float | None]:
    """Whether the job may start now: (None, None) if so (its rate start is recorded),
    else why not and, for a rate, when its window opens."""
    _, _, _, queue, limit_key, limit_max, rate_key, rate_max, rate_per = row
    if limit_key is not None:
        (running,) = conn.execute(sql("limit_running"), (queue, limit_key)).fetchone()
        if running >= limit_max:
            return "limit", None
    if rate_key is not None:
        since = now - rate_per
        args = (queue, rate_key, since, rate_max)
        starts = [start for (start,) in conn.execute(sql("rate_starts"), args)]
        if len(starts) >= rate_max:
            return "rate", starts[-1] + rate_per
        conn.execute(sql("trim_rate"), (queue, rate_key, since))
        conn.execute(sql("start_rate"), (queue, rate_key, now))
    return None, None
