"""Batches on the SQLite file, beyond the conformance suite: the migration that adds them
to a file made before them, and the upkeep that forgets a batch whose retention ended."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from taskrunner.backend import JobState, NewBatch, new_job_id
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_sqlite import SqliteBackend
from taskrunner_sqlite.migrate import known_migrations
from taskrunner_sqlite.queries import sql
from tests.sqlite.conftest import connected


def make_file_before_batches(db_path: Path) -> None:
    """A file with the first migration only, holding one queued job."""
    first = known_migrations()[0]
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute(sql("migrations_create"))
        for statement in first.statements():
            conn.execute(statement)
        conn.execute(sql("migrations_record"), (first.version, first.name, 0.0))
        conn.execute(
            "INSERT INTO jobs (id, task, queue, payload, state, priority, max_attempts,"
            " enqueued_at, run_at) VALUES ('old', 't', 'default', x'7b7d', 'queued', 0, 1, 0, 0)"
        )
    finally:
        conn.close()


async def test_a_file_made_before_batches_gets_them_and_keeps_its_jobs(
    sqlite_url: str, db_path: Path
) -> None:
    make_file_before_batches(db_path)
    async with connected(sqlite_url) as backend:
        (old,) = await backend.get(["old"])
        assert old is not None and old.state is JobState.QUEUED and old.batch_id is None
        batch = NewBatch(new_job_id())
        await backend.open_batch(batch)
        member = new_job(batch_id=batch.id)
        await backend.enqueue([member])
        (record,) = await backend.get([member.id])
        assert record is not None and record.batch_id == batch.id
        assert await backend.batch_members(batch.id, 10) == [member.id]


async def test_upkeep_forgets_a_batch_whose_retention_ended(
    backend: SqliteBackend, db_path: Path
) -> None:
    batch = NewBatch(new_job_id())
    await backend.open_batch(batch)
    await backend.enqueue([new_job(batch_id=batch.id)])
    await backend.cancel_batch(batch.id, ttl=None)
    record = await backend.close_batch(batch.id, ttl=0.0)  # ended, kept no time at all
    assert record is not None and record.ended_at is not None
    assert await backend.get_batches([batch.id]) == [None]
    assert await backend.list_batches(10) == []
    await backend.reclaim()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM batches").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM batch_members").fetchone() == (0,)
