"""The claim's marks (migrations/0016_claim_past_its_mark.sql, taskrunner_postgres/claiming.py):
a backend's claim reads each queue's index past the greatest job it took from it, better
priorities from their start; a job below the mark is claimed when the marked scan comes up
short, and by the unmarked claim the backend makes at least once a second; only jobs of the
queued scan move a mark; workers of the version before keep claiming through claim_jobs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from taskrunner.backend import Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import WORKER, new_job
from taskrunner_postgres import PostgresBackend
from taskrunner_postgres.claiming import (
    FULL_SCAN_EVERY,
    MARK_COLUMN,
    NO_MARKS,
    SEQ_COLUMN,
    ClaimMarks,
)
from taskrunner_postgres.queries import render
from taskrunner_postgres.settings import PostgresSettings
from tests.postgres.test_claim_index import messages as messages_of
from tests.postgres.test_inspection import apply_first_migrations

BEFORE_0016 = 14  # 0001..0009, 0011..0015
STORED = 40_000
CLAIMED = 30_000  # their dead entries fill about 170 leaf pages of the claim index
# an old worker's claim (sql/claim.sql before 0016), as it reaches the server
OLD_CLAIM = (
    "SELECT {record}, j.seq FROM {schema}.claim_jobs($1::text[], $2::integer, $3::text, "
    "$4::float8) AS j ORDER BY j.priority, j.run_at, j.seq"
)
INSERT_JOBS = (
    "INSERT INTO {jobs} (id, task, queue, state, run_at, max_attempts, payload) "
    "SELECT gen_random_uuid(), 'noop', $1, 'queued', now(), 1, '\\x5b5d' "
    "FROM generate_series(1, $2)"
)


class Clock:
    """The monotonic clock the marks read, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def marked(pg_url: str, clock: Clock) -> AsyncIterator[PostgresBackend]:
    """A connected backend whose marks read `clock`: its first claim reads every queue from
    its start, and the next ones start past their marks until the clock moves a second on."""
    backend = PostgresBackend(pg_url)
    backend.claim_marks = ClaimMarks(clock=clock)
    await backend.connect()
    try:
        yield backend
    finally:
        await backend.close()


async def enqueue_each(backend: PostgresBackend, count: int, priority: int = 0) -> list[str]:
    """`count` jobs of queue q, one enqueue each: claim order is enqueue order."""
    ids = []
    for _ in range(count):
        job = new_job(queue="q", priority=priority)
        await backend.enqueue([job])
        ids.append(job.id)
    return ids


async def claim_ids(backend: PostgresBackend, count: int) -> list[str]:
    return [job.id for job in await backend.claim(["q"], count, WORKER, 30)]


async def requeue_expired(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str, job_id: str
) -> None:
    """Let `job_id`'s lease run out and reclaim it: it is queued again at its old place."""
    await admin.execute(
        f"UPDATE \"{schema}\".jobs SET lease_until = now() - interval '1 second' WHERE id = $1",
        job_id,
    )
    assert await backend.reclaim() == [job_id]


async def test_a_better_priority_enqueued_after_the_mark_is_claimed_next(
    marked: PostgresBackend,
) -> None:
    ids = await enqueue_each(marked, 6, priority=5)
    assert await claim_ids(marked, 2) == ids[:2]
    assert "q" in marked.claim_marks.keys
    urgent = new_job(queue="q", priority=1)
    await marked.enqueue([urgent])
    assert await claim_ids(marked, 1) == [urgent.id]  # marked: `priority < 5` from the start
    assert await claim_ids(marked, 1) == [ids[2]]


async def test_a_job_requeued_below_the_mark_is_claimed_when_the_marked_scan_comes_up_short(
    marked: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    ids = await enqueue_each(marked, 5)
    assert await claim_ids(marked, 2) == ids[:2]  # the mark: ids[1]
    await requeue_expired(marked, admin, schema, ids[0])
    # three jobs past the mark, four wanted: the same call reads the queue from its start
    assert await claim_ids(marked, 4) == [ids[0], *ids[2:]]


async def test_a_job_below_the_mark_waits_at_most_until_the_next_unmarked_claim(
    marked: PostgresBackend, admin: asyncpg.Connection, schema: str, clock: Clock
) -> None:
    ids = await enqueue_each(marked, 8)
    assert await claim_ids(marked, 2) == ids[:2]
    await requeue_expired(marked, admin, schema, ids[0])
    clock.now = FULL_SCAN_EVERY / 2
    # a backlog past the mark: the requeued job waits behind newer ones (the mark's cost)
    assert await claim_ids(marked, 1) == [ids[2]]
    clock.now = FULL_SCAN_EVERY
    assert await claim_ids(marked, 1) == [ids[0]]  # the periodic claim without marks
    clock.now = FULL_SCAN_EVERY * 1.5
    assert await claim_ids(marked, 2) == ids[3:5]


async def test_a_dependent_released_below_the_mark_is_claimed(marked: PostgresBackend) -> None:
    first = new_job(queue="first")
    dependent = new_job(queue="q", after=(first.id,))  # keeps its due time once released
    await marked.enqueue([first])
    await marked.enqueue([dependent])
    ids = await enqueue_each(marked, 3)
    assert await claim_ids(marked, 1) == [ids[0]]  # the mark: ids[0], past the dependent
    (record,) = await marked.claim(["first"], 1, WORKER, 30)
    await marked.finish([Outcome(record.id, record.attempt, OutcomeKind.SUCCEEDED)])
    assert await claim_ids(marked, 3) == [dependent.id, *ids[1:]]


async def test_a_due_scheduled_job_sets_no_mark(
    marked: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    await enqueue_each(marked, 3, priority=5)
    jobs = f'"{schema}".jobs'
    insert = (
        f"INSERT INTO {jobs} (id, task, queue, state, priority, run_at, max_attempts, payload) "
        "VALUES (gen_random_uuid(), 'noop', 'q', $1, 0, $2::timestamptz, 1, '') RETURNING id::text"
    )
    due = await admin.fetchval("SELECT now() - interval '1 second'")
    scheduled = await admin.fetchval(insert, "scheduled", due)
    assert await claim_ids(marked, 1) == [scheduled]  # better than every queued job
    assert "q" not in marked.claim_marks.keys
    # a queued job due before the scheduled one, written by hand: were the scheduled job's
    # key a mark, the next claim would read past it and take a job of priority 5
    earlier = await admin.fetchval(insert, "queued", due - timedelta(seconds=1))
    assert await claim_ids(marked, 1) == [earlier]


async def test_a_marked_claim_reads_a_handful_of_index_pages_past_the_claimed_jobs(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    jobs = f'"{schema}".jobs'
    await admin.execute(INSERT_JOBS.format(jobs=jobs), "q", STORED)
    await admin.execute(f"ANALYZE {jobs}")
    assert len(await backend.claim(["q"], CLAIMED, WORKER, 30)) == CLAIMED
    mark = backend.claim_marks.keys["q"]
    claim = (
        f'SELECT count(*) FROM "{schema}".claim_marked('
        "ARRAY['q'], 50, 'w', 30, $1, $2::smallint[], $3::timestamptz[], $4::bigint[])"
    )
    await admin.execute("LOAD 'auto_explain'")
    await admin.execute(
        "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;"
        "SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on;"
        "SET auto_explain.log_level = notice; SET client_min_messages = notice"
    )
    marked_plan = await candidates_plan(admin, claim, ["q"], [mark[0]], [mark[1]], [mark[2]])
    # both ranges are btree range scans on the claim index, bounded by the mark
    for bound in (r"priority < COALESCE", r"ROW\(priority, run_at, seq\) > ROW\("):
        assert re.search(
            r"Index Scan using jobs_queued_idx on jobs \w+ [^\n]*\n\s*"
            rf"Index Cond: \(\(queue = \w+\.name\) AND \({bound}",
            marked_plan,
        )
    assert "Bitmap" not in marked_plan
    unmarked_plan = await candidates_plan(admin, claim, [], [], [], [])
    assert buffers(marked_plan) <= 20 < 100 <= buffers(unmarked_plan)


async def candidates_plan(admin: asyncpg.Connection, claim: str, *marks: list[Any]) -> str:
    """The plan, with its buffers, of the statement of claim_marked that reads the candidates."""
    heard = await messages_of(admin, claim, *marks)
    (plan,) = [m for m in heard if "CTE candidates" in m]
    return plan


def buffers(plan: str) -> int:
    """The buffers the claim index's scans read (found in the cache or not), with the rows
    they return (LockRows, which locks them, counts apart)."""
    total = 0
    for scan in plan.split("Index Scan using jobs_queued_idx")[1:]:
        found = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", scan)
        assert found is not None
        total += int(found[1]) + int(found[2] or 0)
    return total


async def test_an_upgrade_from_0015_keeps_old_workers_claiming(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await apply_first_migrations(admin, schema, BEFORE_0016)
    jobs = f'"{schema}".jobs'
    await admin.execute(INSERT_JOBS.format(jobs=jobs), "q", 7)
    order = [row[0] for row in await admin.fetch(f"SELECT id::text FROM {jobs} ORDER BY seq")]
    old_claim = render(OLD_CLAIM, PostgresSettings(schema=schema))
    before = await admin.fetch(old_claim, ["q"], 2, "old", 30.0)
    backend = PostgresBackend(pg_url)
    await backend.connect()  # applies 0016
    try:
        old = await admin.fetch(old_claim, ["q"], 2, "old", 30.0)  # a worker not yet upgraded
        new = await backend.claim(["q"], 2, WORKER, 30)
        old_again = await admin.fetch(old_claim, ["q"], 2, "old", 30.0)
        rest = await backend.claim(["q"], 10, WORKER, 30)
    finally:
        await backend.close()
    assert [row[0] for row in before + old] == order[:4]
    assert [job.id for job in new] == order[4:6]
    assert [row[0] for row in old_again] == order[6:]
    assert rest == []
    assert {row[4] for row in old} == {"running"}


def claimed_row(queue: str, key: tuple[int, datetime, int] | None) -> list[Any]:
    """A row as sql/claim.sql answers it, with what the marks read: a queue's new mark (a
    row with no id) for a key, else a job's row."""
    row: list[Any] = [None if key else "id", None, queue, *[None] * (MARK_COLUMN - 2)]
    if key is not None:
        row[5], row[MARK_COLUMN], row[SEQ_COLUMN] = key
    return row


def test_a_marked_claim_only_raises_the_marks_and_an_unmarked_one_sets_them() -> None:
    marks = ClaimMarks(clock=Clock())
    at = datetime(2026, 12, 4, tzinfo=UTC)
    assert marks.arguments(["a", "b"]) == (True, NO_MARKS)
    marks.learn(["a", "b"], [claimed_row("a", (0, at, 5)), claimed_row("b", (1, at, 6))], True)
    assert marks.arguments(["a", "c"]) == (False, (["a"], [0], [at], [5]))
    # a marked claim whose own full round took a job below the mark keeps the mark
    marks.learn(["a", "b"], [claimed_row("a", (0, at, 2)), claimed_row("b", (1, at, 9))], False)
    assert marks.keys == {"a": (0, at, 5), "b": (1, at, 9)}
    marks.clock = lambda: FULL_SCAN_EVERY
    assert marks.arguments(["a", "b"]) == (True, NO_MARKS)
    # what an unmarked claim took is the new mark; a queue it took nothing from has none
    job = claimed_row("a", None)
    assert marks.learn(["a"], [claimed_row("a", (0, at, 1)), job], True) == [job]
    assert marks.keys == {"a": (0, at, 1), "b": (1, at, 9)}
    marks.learn(["a", "b"], [claimed_row("b", None)], True)
    assert marks.keys == {}
