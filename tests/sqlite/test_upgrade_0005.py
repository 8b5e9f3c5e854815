"""Upgrading a file from 0005 to `awaited` (0006): a job that others waited on before the
upgrade is flagged by it, and its end still releases them; one stored waiting after it
flags its dependency by the trigger on `waits`, and a job nobody waits on stays unflagged."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

from taskrunner.backend import JobState, Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import new_job
from tests.sqlite.conftest import apply_first_migrations, connected

BEFORE_0006 = 5


def store_before_0006(path: Path) -> tuple[str, str]:
    """A file with the first five migrations, a queued job and one waiting on it, as an
    older version left them; answers (the dependency's id, the waiting job's id)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    apply_first_migrations(conn, BEFORE_0006)
    now, ids = time.time(), (str(uuid.uuid4()), str(uuid.uuid4()))
    for job_id, state in zip(ids, ("queued", "waiting"), strict=True):
        conn.execute(
            "INSERT INTO jobs (id, task, queue, payload, state, priority, max_attempts, "
            "enqueued_at, run_at) VALUES (?, 't', 'q', X'7b7d', ?, 0, 3, ?, ?)",
            (job_id, state, now, now),
        )
    conn.execute("INSERT INTO waits (job_id, dependency) VALUES (?, ?)", (ids[1], ids[0]))
    conn.execute("COMMIT")
    conn.close()
    return ids


def awaited(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        found = dict(conn.execute("SELECT id, awaited FROM jobs").fetchall())
    conn.close()
    return found


async def test_a_dependency_stored_before_0006_still_releases_its_dependents(
    sqlite_url: str, db_path: Path
) -> None:
    dependency, waiting = store_before_0006(db_path)
    async with connected(sqlite_url) as backend:  # applies 0006
        assert awaited(db_path) == {dependency: 1, waiting: 0}
        (record,) = await backend.claim(["q"], 1, "w", 30)
        assert record.id == dependency
        await backend.finish([Outcome(record.id, record.attempt, OutcomeKind.SUCCEEDED)])
        (released,) = await backend.get([waiting])
        assert released is not None and released.state is JobState.QUEUED


async def test_a_job_is_flagged_once_another_waits_on_it(sqlite_url: str, db_path: Path) -> None:
    async with connected(sqlite_url) as backend:
        first, alone = new_job(queue="q"), new_job(queue="q")
        await backend.enqueue([first, alone])
        assert awaited(db_path) == {first.id: 0, alone.id: 0}
        after = new_job(queue="q", after=(first.id,))
        await backend.enqueue([after])
        assert awaited(db_path) == {first.id: 1, alone.id: 0, after.id: 0}
