"""Apps that `taskrunner run` worker processes load in the SQLite process tests.

Each records every attempt it runs as a (job id, attempt, pid) row in a ledger: a SQLite
file of its own, named by the LEDGER environment variable, written on a thread.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3

from taskrunner import TaskRunner, current_job

LEDGER_TABLE = "CREATE TABLE IF NOT EXISTS ledger (job_id TEXT NOT NULL, attempt INT, pid INT)"


def ledger_runner() -> TaskRunner:
    """A runner on TASKRUNNER_URL."""
    return TaskRunner()


def _write(row: tuple[str, int, int]) -> None:
    with sqlite3.connect(os.environ["LEDGER"], timeout=30) as conn:
        # a killed process loses no committed row without a sync; the tests cut no power
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("INSERT INTO ledger VALUES (?, ?, ?)", row)
    conn.close()


async def record_attempt() -> None:
    """Write the running attempt to the ledger."""
    job = current_job()
    await asyncio.to_thread(_write, (job.id, job.attempt, os.getpid()))


def ledger_rows(path: str) -> list[tuple[str, int, int]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT job_id, attempt, pid FROM ledger").fetchall()
    conn.close()
    return rows


def create_ledger(path: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")  # kept by the file: writers queue less
        conn.execute(LEDGER_TABLE)
    conn.close()
