"""The counts `stats()` reads on SQLite (migrations/0005_counts.sql) stay exact: after every
step of a random run through each kind of change (enqueue, claim, each outcome, retry,
cancel, purge, lost leases, expiry, dependencies, batches, writes by hand), they agree with
a full count of the jobs table, read in the same snapshot at several moments (the
scheduled jobs falling due and the records expiring without a write); and the reads use
the counts and the partial indexes of the few jobs they cannot count, not a scan of
the jobs (nor does the oldest due job's lookup of `activity()` read the finished ones)."""

from __future__ import annotations

import contextlib
import json
import random
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskrunner.backend import (
    JobState,
    NewBatch,
    Outcome,
    OutcomeKind,
    new_job_id,
)
from taskrunner.errors import DependencyNotFound
from taskrunner.testing.conformance.helpers import BEYOND_YEAR_9999, new_job
from taskrunner_sqlite import SqliteBackend
from taskrunner_sqlite.queries import sql
from taskrunner_sqlite.reads import stats

QUEUES = ["a", "b"]
DELAYS = [0.0, 0.0, 0.0, 0.05, 30.0, 90.0, 7200.0]
TTLS = [None, None, 0.05, 3600.0]
# moments after now at which the counts are read: later this minute, in the next minutes,
# next year (every scheduled job due, every retention over)
LATER = [0.0, 20.0, 61.0, 3600.0, 4e7]

FULL_COUNT = """
SELECT queue, CASE WHEN state = 'scheduled' AND run_at <= ?1 THEN 'queued' ELSE state END,
    count(*)
FROM jobs WHERE expires_at IS NULL OR expires_at > ?1 GROUP BY 1, 2
"""
# the scheduled jobs by the minute they are due in, counted in full
BUCKETS = """
SELECT queue, CAST(run_at / 60 AS INTEGER), count(*) FROM jobs WHERE state = 'scheduled'
GROUP BY 1, 2
"""


def counted(conn: sqlite3.Connection, now: float) -> dict[str, dict[JobState, int]]:
    """The jobs per queue and state, by a full count of the table."""
    found: dict[str, dict[JobState, int]] = {}
    for queue, state, n in conn.execute(FULL_COUNT, (now,)):
        found.setdefault(queue, dict.fromkeys(JobState, 0))[JobState(state)] = n
    return found


def agree(path: Path) -> None:
    """The counts and a full count agree, in one snapshot, now and at the LATER moments."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        now = time.time()
        for moment in (now + later for later in LATER):
            expected = counted(conn, moment)
            assert stats(conn, moment, None) == expected, moment - now
            named = stats(conn, moment, [*QUEUES, "c", "none"])
            assert named == {q: expected.get(q, dict.fromkeys(JobState, 0)) for q in named}
        buckets = conn.execute("SELECT queue, minute, jobs FROM scheduled_counts").fetchall()
        assert sorted(buckets) == sorted(conn.execute(BUCKETS).fetchall())  # none left empty
        conn.execute("COMMIT")
    finally:
        conn.close()


class Run:
    """A random run of changes on one backend, remembering what it may act on."""

    def __init__(self, backend: SqliteBackend, path: Path, seed: int) -> None:
        self.backend, self.path, self.rng = backend, path, random.Random(seed)
        self.ids: list[str] = []
        self.running: list[tuple[str, int]] = []
        self.open_batches: list[str] = []

    async def enqueue(self) -> None:
        rng = self.rng
        jobs = []
        for _ in range(rng.randint(1, 4)):
            fields: dict[str, Any] = {"queue": rng.choice(QUEUES), "delay": rng.choice(DELAYS)}
            if rng.random() < 0.05:
                fields["at"] = BEYOND_YEAR_9999
            if rng.random() < 0.2:
                fields["key"] = rng.choice(["k1", "k2"])
            if self.ids and rng.random() < 0.3:
                fields["after"] = tuple(rng.sample(self.ids, min(2, len(self.ids))))
                fields["after_run_anyway"] = rng.random() < 0.5
            if self.open_batches and rng.random() < 0.3:
                fields["batch_id"] = rng.choice(self.open_batches)
            jobs.append(new_job(**fields))
        with contextlib.suppress(DependencyNotFound):  # one was purged: nothing is stored
            self.ids += await self.backend.enqueue(jobs)

    async def claim(self) -> None:
        lease = self.rng.choice([30.0, 30.0, 0.05])
        queues = self.rng.sample(QUEUES, self.rng.randint(1, 2))
        claimed = await self.backend.claim(queues, self.rng.randint(1, 3), "w", lease)
        self.running += [(job.id, job.attempt) for job in claimed]

    async def finish(self) -> None:
        if not self.running:
            return
        job_id, attempt = self.running.pop(self.rng.randrange(len(self.running)))
        kind = self.rng.choice(list(OutcomeKind))
        delay = self.rng.choice(DELAYS)
        ttl = self.rng.choice(TTLS)
        await self.backend.finish([Outcome(job_id, attempt, kind, delay=delay, ttl=ttl)])

    async def cancel(self) -> None:
        if self.ids:
            await self.backend.cancel([self.rng.choice(self.ids)], self.rng.choice(TTLS))

    async def retry(self) -> None:
        if self.ids:
            await self.backend.retry([self.rng.choice(self.ids)])

    async def purge(self) -> None:
        states = self.rng.sample([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED], 2)
        await self.backend.purge(states, queue=self.rng.choice([None, *QUEUES]))

    async def reclaim(self) -> None:
        await anyio.sleep(0.06)  # short leases, delays and retentions run out
        await self.backend.reclaim()

    async def batch(self) -> None:
        if self.open_batches and self.rng.random() < 0.5:
            batch_id = self.open_batches.pop(self.rng.randrange(len(self.open_batches)))
            await self.backend.close_batch(batch_id, self.rng.choice(TTLS))
            if self.rng.random() < 0.3:
                await self.backend.cancel_batch(batch_id, None)
            return
        batch_id = new_job_id()
        on_success = new_job(queue=self.rng.choice(QUEUES))
        on_complete = new_job(queue=self.rng.choice(QUEUES), delay=30.0)
        await self.backend.open_batch(NewBatch(batch_id, on_success, on_complete))
        self.open_batches.append(batch_id)

    async def by_hand(self) -> None:
        """A write by another program: a job moved to another queue, or one deleted."""
        if not self.ids:
            return
        job_id = self.rng.choice(self.ids)
        statement = self.rng.choice(
            [
                "UPDATE jobs SET queue = 'c', key = NULL WHERE id = ?",
                "DELETE FROM jobs WHERE id = ?",
            ]
        )
        with sqlite3.connect(self.path, isolation_level=None) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(statement, (job_id,))
            conn.execute("COMMIT")
        conn.close()


STEPS = {"enqueue": 5, "claim": 4, "finish": 4, "cancel": 1, "retry": 1, "purge": 1}
STEPS |= {"reclaim": 1, "batch": 1, "by_hand": 1}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_counts_agree_with_a_full_count_through_random_changes(
    backend: SqliteBackend, db_path: Path, seed: int
) -> None:
    run = Run(backend, db_path, seed)
    names, weights = list(STEPS), list(STEPS.values())
    done = set()
    for _ in range(150):
        (step,) = run.rng.choices(names, weights)
        await getattr(run, step)()
        done.add(step)
        agree(db_path)
    assert done == set(STEPS)


async def test_a_job_written_by_hand_is_counted(backend: SqliteBackend, db_path: Path) -> None:
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        conn.execute(
            "INSERT INTO jobs (id, task, queue, payload, state, priority, max_attempts, "
            "enqueued_at, run_at) VALUES ('x', 't', 'hand', X'', 'scheduled', 0, 1, ?1, ?1)",
            (time.time() + 120,),
        )
        conn.execute("UPDATE jobs SET state = 'failed', queue = 'other' WHERE id = 'x'")
    conn.close()
    assert await backend.stats(["hand", "other"]) == {
        "hand": dict.fromkeys(JobState, 0),
        "other": {**dict.fromkeys(JobState, 0), JobState.FAILED: 1},
    }
    agree(db_path)


# the partial indexes that hold only the jobs a read counts (running, due this minute, past
# their retention): going along them is no scan of the jobs
PARTIAL = r"USING (COVERING )?INDEX (jobs_leases|jobs_scheduled|jobs_expiring)\b"
READS = {
    "stats_soon": 1,
    "stats_expired": 1,
    "stats_later": 2,
    "stats_counts": 1,
    "stats_running": 0,
}


@pytest.mark.parametrize("name", READS)
async def test_the_counts_are_read_without_scanning_the_jobs(
    backend: SqliteBackend, db_path: Path, name: str
) -> None:
    args = (time.time(), json.dumps(QUEUES))[: READS[name]]
    if name == "stats_counts":
        args = (json.dumps(QUEUES),)
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql(name)}", args)]
    conn.close()
    on_jobs = [step for step in plan if re.match(r"(SCAN|SEARCH) jobs\b", step)]
    assert all(re.search(PARTIAL, step) for step in on_jobs), plan


async def test_the_oldest_due_job_is_found_without_reading_finished_jobs(
    backend: SqliteBackend, db_path: Path
) -> None:
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql('oldest_due')}", ("a", 1))]
    conn.close()
    on_jobs = [step for step in plan if re.match(r"(SCAN|SEARCH) jobs\b", step)]
    assert on_jobs == [
        "SEARCH jobs USING INDEX jobs_queue_state (queue=? AND state=?)",
        "SEARCH jobs USING INDEX jobs_scheduled_queue (queue=? AND run_at<?)",
    ], plan
