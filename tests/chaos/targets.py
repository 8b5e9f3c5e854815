"""A backend to strike with a fault of its kind while the test runs (the `target` fixture of
`tests/chaos/conftest.py`): Redis restarted (it keeps what it acknowledged: append-only
file, fsync always), Postgres's connections cut, SQLite's write lock held by another
process (as a backup or a long migration would)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Target:
    """A backend under test. `struck_url` is for the processes the fault strikes (on
    Postgres, their connections carry a name of their own, the one cut); `url` for the
    test's own checks, spared on Postgres. `disrupt` strikes, and says what it did.
    `outage(seconds)` keeps the backend from storing anything for that long: Redis
    stopped, Postgres refusing the jobs' inserts (as a standby or a full disk would),
    SQLite's write lock held (its callers wait, up to their `busy_timeout`)."""

    url: str
    struck_url: str
    disrupt: Callable[[], Awaitable[str]]
    outage: Callable[[float], Awaitable[str]]


def hold_write_lock(path: Path, seconds: float) -> None:
    """Take the file's write lock from another connection, hold it, then checkpoint the
    WAL into the file."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
