"""The machine's own limits that a backend's figures are read against, measured by the
orchestrator in each round:

- SQLite: how many bare `BEGIN IMMEDIATE; INSERT; COMMIT` transactions a second Python's
  sqlite3 commits to a file in the folder the libraries use (WAL, `synchronous=FULL`: every
  commit durable, as the libraries' are by default), one after the other.
- Redis: redis-py's bare `PING` round trip in a loop, and Redis's own ceiling for a function
  call that does nothing (from its `usec_per_call`), by `adapters/limits_probe.py`.
- Postgres: asyncpg's bare one-row `INSERT` and commit in a loop, by the same probe.
- Redis and Postgres: CPython's ceiling for blocking calls from 8 threads that one other
  thread answers, with no I/O (the bound of the sync workload's hand-off), by the probe.

No library can store one job per awaited call faster than the round trip or the commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from harness.invoke import run_adapter
from harness.libraries import ADAPTERS
from harness.namespaces import Servers

BARE_COMMIT = "bare_commit"
PING = "ping"
NOOP_FUNCTION = "noop_function"
BARE_INSERT_COMMIT = "bare_insert_commit"
THREAD_HANDOFF = "thread_handoff"
LABELS = {
    BARE_COMMIT: "bare `BEGIN IMMEDIATE; INSERT; COMMIT` from Python's sqlite3, WAL, "
    "`synchronous=FULL`, on the libraries' disk (/s)",
    PING: "redis-py asyncio `PING`, one awaited after the other (round trips/s)",
    NOOP_FUNCTION: "Redis's own ceiling for a no-op function call, 1 s / its usec_per_call "
    "in `INFO commandstats` (calls/s, server time only)",
    BARE_INSERT_COMMIT: "asyncpg one-row `INSERT` + commit, one after the other (commits/s)",
    THREAD_HANDOFF: "8 threads, each blocking until one other thread answers its call (a "
    "lock released), no I/O: CPython's ceiling for blocking calls answered by one event "
    "loop's thread (calls/s)",
}
ENQUEUE_BOUNDS = (BARE_COMMIT, PING, BARE_INSERT_COMMIT)
"""The limits a single awaited enqueue is set against in the report."""

PROBE = ADAPTERS / "limits_probe.py"


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


def measure(
    backend: str, servers: Servers, quick: bool, python: Path, log: Path
) -> dict[str, float]:
    """The limits of `backend` on this machine (none on memory); the Redis and Postgres ones
    by the probe, run with `python` (taskrunner's, which has redis-py and asyncpg)."""
    if backend == "sqlite":
        return {BARE_COMMIT: bare_commits(servers.sqlite, 300 if quick else 2_000)}
    if backend == "redis":
        url = servers.redis
    elif backend == "postgres":
        url = f"{servers.postgres.rstrip('/')}/postgres"
    else:
        return {}
    spec = {"workload": "limits", "backend": backend, "url": url, "n": 1_000 if quick else 10_000}
    outcome = run_adapter(python, PROBE, "bench", spec, log, 120.0)
    if outcome.status != "ok":
        raise RuntimeError(f"measuring the {backend} limits failed: {outcome.message}")
    return outcome.figures
