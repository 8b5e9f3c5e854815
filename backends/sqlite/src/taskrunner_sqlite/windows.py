"""Dedup windows (`NewJob.key_ttl`): a (queue, key) held for `key_ttl` seconds after an
enqueue, in the `windows` table, apart from the keys that records hold."""

from __future__ import annotations

import sqlite3

from taskrunner.backend import NewJob
from taskrunner_sqlite.queries import sql


def window_holder(conn: sqlite3.Connection, new: NewJob, now: float) -> str | None:
    """The id of the job whose window on the job's (queue, key) is open at `now`; None if
    none is, in which case the job opens one (the caller stores it in the same
    transaction)."""
    assert new.key is not None and new.key_ttl is not None
    row = conn.execute(sql("window_holder"), (new.queue, new.key)).fetchone()
    if row is not None and row[1] > now:
        return str(row[0])
    conn.execute(sql("open_window"), (new.queue, new.key, new.id, now + new.key_ttl))
    return None
