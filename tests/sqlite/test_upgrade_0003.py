"""Upgrading a file from 0003 to the task registry (0004) and the counts (0005): the jobs
stored before, in every state, are counted as a full count of the table counts them, and
the counts stay exact through the changes that follow; the registry starts empty and
takes the specs a worker publishes."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

from taskrunner.backend import Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_sqlite.migrate import known_migrations
from tests.sqlite.conftest import apply_first_migrations, connected
from tests.sqlite.test_counts import agree

BEFORE_0004 = 3  # 0001_jobs, 0002_batches, 0003_dependencies
# (queue, state, due in seconds, retention left in seconds) of the jobs stored before
STORED = [
    ("mail", "queued", -5.0, None),
    ("mail", "queued", -5.0, None),
    ("mail", "scheduled", -1.0, None),  # due: told as queued
    ("mail", "scheduled", 3600.0, None),
    ("mail", "running", -60.0, None),
    ("mail", "succeeded", -60.0, 3600.0),
    ("mail", "succeeded", -60.0, -1.0),  # past its retention: not counted
    ("feeds", "waiting", 0.0, None),
    ("feeds", "failed", -60.0, None),
    ("feeds", "cancelled", -60.0, None),
    ("feeds", "scheduled", 90.0, None),
]


def migrate_to_0003(path: Path) -> None:
    """A file with the first three migrations only, as an older version left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    apply_first_migrations(conn, BEFORE_0004)
    now = time.time()
    for queue, state, due, kept in STORED:
        conn.execute(
            "INSERT INTO jobs (id, task, queue, payload, state, priority, attempt, "
            "max_attempts, enqueued_at, run_at, lease_until, expires_at) "
            "VALUES (?, 't', ?, X'7b7d', ?, 0, ?, 3, ?, ?, ?, ?)",
            (str(uuid.uuid4()), queue, state, int(state == "running"), now - 120, now + due,
             now + 30 if state == "running" else None, None if kept is None else now + kept),
        )  # fmt: skip
    conn.execute("COMMIT")
    conn.close()


async def test_an_upgrade_from_0003_counts_the_jobs_stored_before(
    sqlite_url: str, db_path: Path
) -> None:
    migrate_to_0003(db_path)
    async with connected(sqlite_url) as backend:  # applies 0004 and 0005
        agree(db_path)
        stats = await backend.stats(["mail", "feeds"])
        assert {s: n for s, n in stats["mail"].items() if n} == {
            "queued": 3, "scheduled": 1, "running": 1, "succeeded": 1,
        }  # fmt: skip
        assert {s: n for s, n in stats["feeds"].items() if n} == {
            "waiting": 1, "scheduled": 1, "failed": 1, "cancelled": 1,
        }  # fmt: skip
        claimed = await backend.claim(["mail"], 10, "w", 30)
        assert len(claimed) == 3
        await backend.finish([Outcome(job.id, job.attempt, OutcomeKind.FAILED) for job in claimed])
        await backend.enqueue([new_job(queue="feeds", delay=30)])
        await backend.reclaim()
        agree(db_path)
        assert await backend.task_specs() == {}
        await backend.publish_tasks({"t": b'{"queue": "mail"}'})
        assert await backend.task_specs(["t"]) == {"t": b'{"queue": "mail"}'}
    with sqlite3.connect(db_path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM migrations ORDER BY 1")]
    conn.close()
    assert versions == [m.version for m in known_migrations()]
