"""A call of plain jobs (no key, no `after`) is stored by a few multi-row INSERTs
(`jobs.insert_rows`: 64 rows to a statement, the rest in 32, 16, ... rows), not one
statement per job; the rows keep the call's order across the statements, and a job whose id
is already stored, or repeated in the call, still falls back to the path of one job at a
time, with the counts, the batch's members and tallies exact."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from taskrunner.backend import JobState, NewBatch, new_job_id
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_sqlite import SqliteBackend
from taskrunner_sqlite.jobs import enqueue
from taskrunner_sqlite.migrate import apply_migrations
from taskrunner_sqlite.queries import repeated, sql

FULL_COUNT = "SELECT queue, state, count(*) FROM jobs GROUP BY 1, 2 ORDER BY 1, 2"


class Counting(sqlite3.Connection):
    """A connection that keeps, for each statement run by `execute` or `executemany`, its
    text and the number of rows of parameters it was run with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: list[tuple[str, int]] = []

    def execute(self, statement: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self.runs.append((statement, 1))
        return super().execute(statement, parameters)

    def executemany(self, statement: str, rows: Iterable[Any], /) -> sqlite3.Cursor:
        rows = list(rows)
        self.runs.append((statement, len(rows)))
        return super().executemany(statement, rows)


def test_the_statement_of_n_rows_repeats_the_one_row() -> None:
    one = sql("insert_job")
    assert repeated("insert_job", 1) == one
    three = repeated("insert_job", 3)
    assert three.count("?") == 3 * one.count("?")
    assert three.count("), (") == 2 and "ON CONFLICT (id) DO NOTHING" in three


def test_a_thousand_plain_jobs_take_seventeen_inserts(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None, factory=Counting)
    conn.execute("BEGIN IMMEDIATE")
    apply_migrations(conn, time.time())
    conn.runs.clear()
    jobs = [new_job(queue="q") for _ in range(1000)]
    assert enqueue(conn, time.time(), jobs) == [job.id for job in jobs]
    inserts = [(s.count("), (") + 1, n) for s, n in conn.runs if "INSERT INTO jobs" in s]
    assert inserts == [(64, 1)] * 15 + [(32, 1), (8, 1)]
    stored = [row[0] for row in conn.execute("SELECT id FROM jobs ORDER BY seq")]
    assert stored == [job.id for job in jobs]
    assert conn.execute("SELECT ready FROM queue_counts WHERE queue = 'q'").fetchone() == (1000,)
    conn.execute("COMMIT")
    conn.close()


async def test_a_stored_or_repeated_id_among_many_falls_back_exactly(
    backend: SqliteBackend, db_path: Path
) -> None:
    batch = NewBatch(new_job_id())
    await backend.open_batch(batch)
    old = new_job(queue="q", batch_id=batch.id)
    assert await backend.enqueue([old]) == [old.id]
    jobs = [new_job(queue="q", batch_id=batch.id, delay=3600.0 * (i % 2)) for i in range(150)]
    jobs[63] = jobs[64]  # the same job twice, across two statements
    jobs[100] = old  # already stored: its insert does nothing
    answered = await backend.enqueue(jobs)
    assert answered == [job.id for job in jobs]
    members = list(dict.fromkeys([old.id] + [job.id for job in jobs]))
    assert await backend.batch_members(batch.id, 1000) == members
    (info,) = await backend.get_batches([batch.id])
    assert info is not None and info.total == len(members) == 149
    stats = await backend.stats(["q"])
    with sqlite3.connect(db_path) as conn:
        full = {(s, n) for _, s, n in conn.execute(FULL_COUNT)}
    assert full == {("queued", 75), ("scheduled", 74)}
    assert (stats["q"][JobState.QUEUED], stats["q"][JobState.SCHEDULED]) == (75, 74)
