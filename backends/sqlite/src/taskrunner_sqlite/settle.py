"""Batches inside a write transaction: their records, and `settle`, which every write runs
before it commits (`SqliteStore.write`). The triggers of `migrations/0002_batches.sql`
move a batch's counts with each member's state and mark it `unsettled` when a member ends
or leaves an end; `settle` then notes the batch's end and stores each callback once, in
the same transaction as the change that called for it (the memory backend's `BatchBook`
is the reference)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import Any

from taskrunner.backend import BatchRecord, JobState, NewJob
from taskrunner_sqlite.jobs import gone, store_new
from taskrunner_sqlite.queries import sql

# the states counted by the columns of sql/get_batch.sql from COUNTS on, in their order
COUNTED = [JobState(name) for name in ("waiting", "queued", "scheduled", "running")] + [
    JobState(name) for name in ("succeeded", "failed", "cancelled")
]
COUNTS = 6
UNFINISHED = 4  # the first four of COUNTED


def encode(job: NewJob | None) -> str | None:
    """A callback job as the JSON text kept on its batch's row."""
    if job is None:
        return None
    fields = dataclasses.asdict(job)
    fields["payload"] = job.payload.hex()
    return json.dumps(fields)


def decode(text: str) -> NewJob:
    fields = json.loads(text)
    fields["payload"] = bytes.fromhex(fields["payload"])
    fields["after"] = tuple(fields["after"])
    return NewJob(**fields)


def batch_row(conn: sqlite3.Connection, batch_id: str, now: float) -> Any:
    """The batch's row (sql/get_batch.sql), None if unknown or its retention has ended."""
    row = conn.execute(sql("get_batch"), (now, batch_id)).fetchone()
    if row is None:
        return None
    ended_at, ttl = row[15], row[16]
    expires_at = None if ended_at is None or ttl is None else ended_at + ttl
    return None if gone(expires_at, now) else row


def batch_record(row: Any) -> BatchRecord:
    """A row of sql/get_batch.sql as a BatchRecord; a scheduled member already due counts
    as queued, as reads tell it."""
    counts = dict(zip(COUNTED, row[COUNTS : COUNTS + len(COUNTED)], strict=True))
    due = row[-1]
    counts[JobState.SCHEDULED] -= due
    counts[JobState.QUEUED] += due
    on_success, on_complete = (
        None if text is None else json.loads(text)["id"] for text in row[2:4]
    )
    return BatchRecord(
        id=row[0],
        created_at=row[1],
        closed=bool(row[4]),
        total=row[5],
        counts=counts,
        on_success=on_success,
        on_complete=on_complete,
        success_fired=bool(row[13]),
        complete_fired=bool(row[14]),
        ended_at=row[15],
    )


def settle(conn: sqlite3.Connection, now: float) -> None:
    """Settle every batch marked unsettled in this transaction."""
    for (batch_id,) in conn.execute(sql("unsettled_batches")).fetchall():
        settle_one(conn, batch_id, now)


def settle_one(conn: sqlite3.Connection, batch_id: str, now: float) -> None:
    """Fire what the batch's counts now call for, once each, and note its end (or that it
    has not ended: a member was retried by hand)."""
    row = conn.execute(sql("get_batch"), (now, batch_id)).fetchone()
    on_success, on_complete, closed, total = row[2:6]
    success_fired, complete_fired, ended_at = row[13:16]
    unfinished = sum(row[COUNTS : COUNTS + UNFINISHED])
    if not closed or unfinished:
        conn.execute(sql("settle_batch"), (None, success_fired, complete_fired, batch_id))
        return
    if not complete_fired:
        complete_fired = 1
        if on_complete is not None:
            store_new(conn, decode(on_complete), now)
    if not success_fired and row[COUNTS + COUNTED.index(JobState.SUCCEEDED)] == total:
        success_fired = 1
        if on_success is not None:
            store_new(conn, decode(on_success), now)
    ended_at = now if ended_at is None else ended_at
    conn.execute(sql("settle_batch"), (ended_at, success_fired, complete_fired, batch_id))
