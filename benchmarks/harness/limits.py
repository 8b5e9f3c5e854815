"""The machine's own limits that a backend's figures are read against, measured by the
orchestrator itself in each round. For SQLite: how many bare `BEGIN IMMEDIATE; INSERT;
COMMIT` transactions a second Python's sqlite3 commits to a file in the folder the
libraries use (WAL, `synchronous=FULL`: every commit durable, as the libraries' are by
default), one after the other: no library can store one job per durable commit faster."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

BARE_COMMIT = "bare_commit"
LABELS = {
    BARE_COMMIT: "bare `BEGIN IMMEDIATE; INSERT; COMMIT` from Python's sqlite3, WAL, "
    "`synchronous=FULL`, on the libraries' disk (/s)",
}


def bare_commits(folder: Path, n: int) -> float:
    """Commits a second of `n` one-row transactions into a fresh file in `folder`."""
    path = folder / "bench_bare_commit.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, payload BLOB)")
        start = time.perf_counter()
        for _ in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (payload) VALUES (?)", (b"x" * 40,))
            conn.execute("COMMIT")
        return n / (time.perf_counter() - start)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def measure(backend: str, folder: Path, quick: bool) -> dict[str, float]:
    """The limits of `backend` on this machine (none but SQLite's yet)."""
    if backend != "sqlite":
        return {}
    return {BARE_COMMIT: bare_commits(folder, 300 if quick else 2_000)}
