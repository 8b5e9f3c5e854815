"""Dependencies on the SQLite file, beyond the conformance suite: what the `waits` table
keeps once the jobs in it are judged or deleted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from taskrunner.backend import JobState
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_sqlite import SqliteBackend


def waits(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        (n,) = conn.execute("SELECT count(*) FROM waits").fetchone()
        return int(n)


async def test_a_purged_waiting_job_and_a_judged_dependency_leave_no_waits(
    backend: SqliteBackend, db_path: Path
) -> None:
    first, second = new_job(), new_job()
    await backend.enqueue([first, second])
    waiting, other = new_job(after=(first.id,)), new_job(after=(second.id,))
    await backend.enqueue([waiting, other])
    assert waits(db_path) == 2
    assert await backend.cancel([waiting.id], ttl=None) == [JobState.CANCELLED]
    assert await backend.purge([JobState.CANCELLED]) == 1
    assert waits(db_path) == 1
    await backend.cancel([second.id], ttl=None)  # judged: `other` is cancelled with it
    (record,) = await backend.get([other.id])
    assert record is not None and record.state is JobState.CANCELLED
    assert waits(db_path) == 0
