"""Upgrading a file from 0006 to holds at enqueue (0007): a backlog of one limit key stored
by an older version (all of it queued, none held) is counted by the next enqueue of its key,
which is stored held behind it; the backlog drains in order, one at a time."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

from taskrunner.backend import Held, JobState, Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import new_job
from tests.sqlite.conftest import apply_first_migrations, connected

BEFORE_0007 = 6
BACKLOG = 1 + 100  # the key's max + the margin: the next job of the key is held


def store_backlog_before_0007(path: Path) -> list[str]:
    """A file with the first six migrations and a backlog of key `k` (max 1), queued and
    not held, as an older version left it; answers the ids in enqueue order."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    apply_first_migrations(conn, BEFORE_0007)
    now, ids = time.time(), [str(uuid.uuid4()) for _ in range(BACKLOG)]
    for job_id in ids:
        conn.execute(
            "INSERT INTO jobs (id, task, queue, payload, state, priority, max_attempts, "
            "enqueued_at, run_at, limit_key, limit_max) "
            "VALUES (?, 't', 'q', X'7b7d', 'queued', 0, 3, ?, ?, 'k', 1)",
            (job_id, now, now),
        )
    conn.execute("COMMIT")
    conn.close()
    return ids


async def test_a_backlog_stored_before_0007_holds_the_next_job_of_its_key(
    sqlite_url: str, db_path: Path
) -> None:
    backlog = store_backlog_before_0007(db_path)
    async with connected(sqlite_url) as backend:  # applies 0007
        late = new_job(queue="q", limit_key="k", limit_max=1)
        await backend.enqueue([late])
        (record,) = await backend.get([late.id])
        assert record is not None and (record.state, record.held) == (JobState.QUEUED, Held.LIMIT)
        for job_id in [*backlog, late.id]:
            (claimed,) = await backend.claim(["q"], 10, "w", 30)
            assert claimed.id == job_id
            await backend.finish([Outcome(job_id, claimed.attempt, OutcomeKind.SUCCEEDED)])
        assert await backend.claim(["q"], 10, "w", 30) == []
