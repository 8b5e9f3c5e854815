"""Inspection on Postgres beyond the conformance suite: the counts kept by the triggers
agree with the table at every step, whatever writes it (and after upkeep folds them), each
attempt that ends is counted once, a schema upgraded from 0001 counts the jobs it already
holds, attempts survive a retry by hand, and the runner's views (attempts, listing, stats,
workers) work with a real worker."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from taskrunner import JobState, TaskRunner, current_job
from taskrunner.backend import AttemptOutcome, JobFilter, Outcome, OutcomeKind
from taskrunner.stats import ended_since
from taskrunner.testing.conformance.helpers import WORKER, claim_one, new_job
from taskrunner_postgres import PostgresBackend, PostgresSettings
from taskrunner_postgres.migrate import known_migrations
from taskrunner_postgres.queries import Queries
from tests.helpers import drain, eventually

TRUTH = """
SELECT queue,
       CASE WHEN state = 'scheduled' AND run_at <= now() THEN 'queued' ELSE state END,
       count(*)
FROM "{schema}".jobs
WHERE expires_at IS NULL OR expires_at > now()
GROUP BY 1, 2
"""


async def truth(admin: asyncpg.Connection, schema: str) -> dict[str, dict[JobState, int]]:
    counts: dict[str, dict[JobState, int]] = {}
    for queue, state, count in await admin.fetch(TRUTH.format(schema=schema)):
        counts.setdefault(queue, dict.fromkeys(JobState, 0))[JobState(state)] = count
    return counts


async def agree(backend: PostgresBackend, admin: asyncpg.Connection, schema: str) -> None:
    expected = await truth(admin, schema)
    stats = await backend.stats()
    assert stats == expected
    for queue, counts in expected.items():
        assert (await backend.stats([queue]))[queue] == counts


async def test_counts_follow_every_kind_of_change(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    due = [new_job(queue="a") for _ in range(6)] + [new_job(queue="b") for _ in range(2)]
    later = [new_job(queue="a", delay=3600) for _ in range(3)]
    soon = new_job(queue="b", delay=0.3)
    keyed = [new_job(queue="a", key="k1"), new_job(queue="b", key="k2", delay=3600)]
    await backend.enqueue(due)
    await backend.enqueue([*later, soon])
    await backend.enqueue(keyed)
    await backend.enqueue([new_job(queue="a", key="k1")])  # held: nothing stored
    await agree(backend, admin, schema)

    claimed = await backend.claim(["a"], 6, WORKER, 30)
    await agree(backend, admin, schema)
    kinds = [
        Outcome(claimed[0].id, 1, OutcomeKind.SUCCEEDED, result=b"1"),
        Outcome(claimed[1].id, 1, OutcomeKind.FAILED, error=b"{}"),
        Outcome(claimed[2].id, 1, OutcomeKind.RETRY, error=b"{}"),
        Outcome(claimed[3].id, 1, OutcomeKind.RETRY, error=b"{}", delay=3600),
        Outcome(claimed[4].id, 1, OutcomeKind.RELEASED),
        Outcome(claimed[5].id, 1, OutcomeKind.CANCELLED, ttl=0),
    ]
    await backend.finish(kinds)
    await agree(backend, admin, schema)

    await asyncio.sleep(0.4)  # `soon` is due now: counted as queued
    await agree(backend, admin, schema)
    running = await backend.claim(["b"], 3, WORKER, 0.2)  # takes the due scheduled one too
    assert soon.id in {r.id for r in running}
    await agree(backend, admin, schema)

    await backend.cancel([later[0].id, due[7].id, running[0].id], ttl=None)
    await agree(backend, admin, schema)
    assert await backend.retry([claimed[1].id, later[1].id, later[0].id, claimed[3].id]) == [
        True,
        True,
        True,
        True,
    ]
    await agree(backend, admin, schema)

    await asyncio.sleep(0.3)
    assert len(await backend.reclaim()) == 3  # lost leases; also prunes the cancelled job
    await agree(backend, admin, schema)
    assert await backend.purge([JobState.QUEUED, JobState.SCHEDULED], queue="b") > 0
    await agree(backend, admin, schema)
    assert await backend.purge([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]) > 0
    await agree(backend, admin, schema)


PLAIN_INSERT = """
INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, payload, attempt,
                             started_at, lease_until, worker)
SELECT gen_random_uuid(), 't', 'q' || (g % 2),
       (ARRAY['queued', 'scheduled', 'scheduled', 'running', 'succeeded', 'failed',
              'cancelled'])[g % 7 + 1],
       CASE WHEN g % 7 = 1 THEN now() + interval '1 day'
            WHEN g % 7 = 2 THEN now() - interval '1 second'
            ELSE now() END,
       3, ''::bytea, CASE WHEN g % 7 = 3 THEN 1 ELSE 0 END,
       CASE WHEN g % 7 = 3 THEN now() END, CASE WHEN g % 7 = 3 THEN now() + interval '1 hour' END,
       CASE WHEN g % 7 = 3 THEN 'by-hand' END
FROM generate_series(1, 70) AS g
"""


async def test_counts_stay_true_whatever_writes_the_table(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    jobs = f'"{schema}".jobs'
    await admin.execute(PLAIN_INSERT.format(schema=schema))
    await agree(backend, admin, schema)
    await backend.enqueue([new_job(queue="q0") for _ in range(3)])
    await backend.enqueue([new_job(queue="q1", delay=3600)])
    await agree(backend, admin, schema)  # the backend's own writes are not counted twice

    # states, queues and due times changed by hand, one row or many per statement
    await admin.execute(f"UPDATE {jobs} SET state = 'succeeded' WHERE state = 'queued'")
    await agree(backend, admin, schema)
    await admin.execute(
        f"UPDATE {jobs} SET state = 'queued', lease_until = NULL WHERE state = 'running'"
    )
    await agree(backend, admin, schema)
    await admin.execute(
        f"UPDATE {jobs} SET queue = 'q2' WHERE id IN (SELECT id FROM {jobs} "
        "WHERE state = 'scheduled' AND queue = 'q1' LIMIT 3)"
    )
    await admin.execute(
        f"UPDATE {jobs} SET run_at = now() + interval '2 hours' "
        "WHERE state = 'scheduled' AND queue = 'q0'"
    )
    await admin.execute(f"UPDATE {jobs} SET state = 'failed' WHERE state = 'cancelled'")
    await agree(backend, admin, schema)
    for due in ("infinity", "-infinity", "infinity"):  # times only SQL can store
        await admin.execute(
            f"UPDATE {jobs} SET run_at = $1::text::timestamptz WHERE id IN "
            f"(SELECT id FROM {jobs} WHERE state = 'scheduled' AND queue = 'q0' LIMIT 2)",
            due,
        )
        await agree(backend, admin, schema)
    await admin.execute(  # due in a day: no longer counted as scheduled then
        f"UPDATE {jobs} SET state = 'running' WHERE state = 'scheduled' AND queue = 'q1'"
    )
    await admin.execute(
        f"UPDATE {jobs} SET id = gen_random_uuid(), state = 'cancelled' "
        "WHERE queue = 'q0' AND state = 'succeeded'"
    )
    await agree(backend, admin, schema)

    # rows deleted by hand, then the backend at work on what is left
    await admin.execute(f"DELETE FROM {jobs} WHERE state = 'failed' AND queue = 'q0'")
    await admin.execute(f"DELETE FROM {jobs} WHERE state = 'scheduled' AND queue = 'q2'")
    await agree(backend, admin, schema)
    claimed = await backend.claim(["q0", "q1"], 5, WORKER, 30)
    assert claimed
    await backend.finish([Outcome(r.id, r.attempt, OutcomeKind.SUCCEEDED) for r in claimed])
    await backend.reclaim()  # folds the tallies
    await agree(backend, admin, schema)
    await admin.execute(f"TRUNCATE {jobs}")
    await agree(backend, admin, schema)
    assert await backend.stats() == {}
    await backend.enqueue([new_job(queue="q0")])
    await agree(backend, admin, schema)


async def test_attempts_ended_by_any_statement_are_counted_once(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    start = await backend.now()
    await backend.enqueue([new_job(queue="a") for _ in range(7)])
    claimed = await backend.claim(["a"], 7, WORKER, 0.2)
    kinds = [
        Outcome(claimed[0].id, 1, OutcomeKind.SUCCEEDED, result=b"1"),
        Outcome(claimed[1].id, 1, OutcomeKind.FAILED, error=b"{}"),
        Outcome(claimed[2].id, 1, OutcomeKind.RETRY, error=b"{}"),
        Outcome(claimed[3].id, 1, OutcomeKind.RETRY, error=b"{}", delay=3600),
        Outcome(claimed[4].id, 1, OutcomeKind.RELEASED),
        Outcome(claimed[5].id, 1, OutcomeKind.CANCELLED),
    ]
    await backend.finish(kinds)
    await asyncio.sleep(0.3)
    assert await backend.reclaim() == [claimed[6].id]  # its lease ran out: lost
    by_hand = await claim_one(backend, queue="a")
    await admin.execute(
        f"UPDATE \"{schema}\".jobs SET state = 'queued' WHERE id = $1", uuid.UUID(by_hand.id)
    )  # put back by hand, nothing logged: lost too
    odd = await claim_one(backend, queue="a")
    await admin.execute(  # put back by hand with attempts that are not a list: lost
        f"UPDATE \"{schema}\".jobs SET state = 'queued', attempts = '{{\"a\": 1}}' WHERE id = $1",
        uuid.UUID(odd.id),
    )
    expected = {
        AttemptOutcome.SUCCEEDED: 1,
        AttemptOutcome.FAILED: 1,
        AttemptOutcome.RETRY: 2,
        AttemptOutcome.RELEASED: 1,
        AttemptOutcome.CANCELLED: 1,
        AttemptOutcome.LOST: 3,
    }
    activity = (await backend.activity(["a"], since=start))["a"]
    assert ended_since(activity, math.floor(start)) == expected  # per second, then minute
    per_minute: dict[AttemptOutcome, int] = {}
    for counts in activity.per_minute.values():
        for outcome, n in counts.items():
            per_minute[outcome] = per_minute.get(outcome, 0) + n
    assert per_minute == expected


async def test_upkeep_folds_the_tallies_and_keeps_the_counts(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    await backend.enqueue([new_job(queue="a") for _ in range(4)])
    await backend.enqueue([new_job(queue="a", delay=7200)])
    for _ in range(3):
        job = await claim_one(backend, queue="a")
        await backend.finish([Outcome(job.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
    before = await backend.stats()
    tallies = f'"{schema}".tallies'
    minute = "floor(date_part('epoch', now()) / 60)::bigint"
    # age the rows: some a few minutes (folded into slot 0), some past the hour (into
    # minute 0); the scheduled job's row, due in two hours, stays where it is
    await admin.execute(f"UPDATE {tallies} SET minute = minute - 5 WHERE minute = {minute}")
    await backend.enqueue([new_job(queue="a")])
    await backend.claim(["a"], 1, WORKER, 30)
    await admin.execute(f"UPDATE {tallies} SET minute = minute - 90 WHERE minute = {minute}")
    await backend.enqueue([new_job(queue="b")])  # another row, of this minute
    rows_before = await admin.fetchval(f"SELECT count(*) FROM {tallies}")
    assert rows_before >= 4

    await backend.reclaim()
    after = await backend.stats()
    assert after["a"] == {**before["a"], JobState.QUEUED: 1, JobState.RUNNING: 1}
    assert after["b"][JobState.QUEUED] == 1
    await agree(backend, admin, schema)
    rows = await admin.fetch(f"SELECT minute, slot FROM {tallies} WHERE queue = 'a'")
    assert all(r["slot"] == 0 for r in rows)  # another connection's rows: all folded
    assert 0 in {r["minute"] for r in rows}
    per_minute = (await backend.activity(["a"]))["a"].per_minute
    # five minutes old, so still counted
    assert sum(n.get(AttemptOutcome.SUCCEEDED, 0) for n in per_minute.values()) == 3


async def test_upkeep_folds_the_seconds_and_forgets_those_past_the_hour(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    for _ in range(3):
        await backend.enqueue([new_job(queue="a")])
        job = await claim_one(backend, queue="a")
        await backend.finish([Outcome(job.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
    ended = f'"{schema}".ended'
    await admin.execute(f"UPDATE {ended} SET second = second - 300")  # five minutes ago
    second = "floor(date_part('epoch', now()))::bigint"
    await admin.execute(  # past the hour: forgotten, from another connection or folded
        f"INSERT INTO {ended} (queue, second, slot, failed) "
        f"VALUES ('a', {second} - 3800, 0, 4), ('a', {second} - 3800, 12345, 5)"
    )
    await backend.reclaim()
    rows = await admin.fetch(f"SELECT second, slot, succeeded, failed FROM {ended}")
    assert all(r["slot"] == 0 for r in rows)
    assert sum(r["succeeded"] for r in rows) == 3 and sum(r["failed"] for r in rows) == 0


async def apply_first_migrations(admin: asyncpg.Connection, schema: str, count: int) -> None:
    """Bring `schema` to the state of an older release: its first `count` migrations."""
    settings = PostgresSettings(schema=schema)
    queries = Queries.load(settings)
    await admin.execute(queries.migrations_create)
    for migration in known_migrations()[:count]:
        await admin.execute(migration.sql(settings))
        await admin.execute(queries.migrations_record, migration.version, migration.name)


async def upgrade_and_agree(
    pg_url: str, admin: asyncpg.Connection, schema: str, queue: str, scheduled: int
) -> None:
    """Connect (which applies the pending migrations); the counts must agree with the rows,
    `queue` having `scheduled` jobs due later."""
    backend = PostgresBackend(pg_url)
    await backend.connect()
    try:
        assert (await backend.stats())[queue][JobState.SCHEDULED] == scheduled
        await agree(backend, admin, schema)
    finally:
        await backend.close()


async def test_upgrading_from_0001_counts_the_jobs_already_there(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await apply_first_migrations(admin, schema, 1)
    await admin.execute(
        f'INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, payload) '
        "SELECT gen_random_uuid(), 't', 'q' || (g % 2), "
        "(ARRAY['queued', 'scheduled', 'scheduled', 'running', 'succeeded', 'failed', "
        "'cancelled'])[g % 7 + 1], "
        "CASE WHEN g % 7 = 1 THEN now() + interval '1 day' ELSE now() END, 1, ''::bytea "
        "FROM generate_series(1, 70) AS g"
    )
    await upgrade_and_agree(pg_url, admin, schema, "q0", 5)


async def test_upgrading_from_0001_takes_a_job_due_at_infinity(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await apply_first_migrations(admin, schema, 1)
    await admin.execute(
        f'INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, payload) '
        "VALUES (gen_random_uuid(), 't', 'q', 'scheduled', 'infinity', 1, ''::bytea)"
    )
    # the upgrade migrates 0002 onwards: the infinite due time must not break it
    await upgrade_and_agree(pg_url, admin, schema, "q", 1)


async def test_upgrading_to_0004_mends_counts_that_writes_by_hand_put_off(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await apply_first_migrations(admin, schema, 3)
    await admin.execute(PLAIN_INSERT.format(schema=schema))  # 0003 counts none of them
    await upgrade_and_agree(pg_url, admin, schema, "q0", 5)


async def test_a_retry_by_hand_keeps_the_attempt_that_failed(backend: PostgresBackend) -> None:
    job = new_job(max_attempts=1)
    await backend.enqueue([job])
    await claim_one(backend, worker="w1")
    error = b'{"type":"ValueError","message":"' + b"x" * 5000 + b'","traceback":""}'
    await backend.finish([Outcome(job.id, 1, OutcomeKind.FAILED, error=error)])
    (failed,) = await backend.get([job.id])
    assert failed is not None and failed.attempts is not None
    assert [(a.attempt, a.worker, a.outcome, a.error) for a in failed.attempts] == [
        (1, "w1", AttemptOutcome.FAILED, error)
    ]
    assert await backend.retry([job.id]) == [True]
    (queued,) = await backend.get([job.id])
    assert queued is not None and queued.attempts == failed.attempts  # logged on the job
    await claim_one(backend, worker="w2")
    await backend.finish([Outcome(job.id, 2, OutcomeKind.SUCCEEDED, result=b"1")])
    (done,) = await backend.get([job.id])
    assert done is not None and done.attempts is not None
    assert [(a.attempt, a.worker, a.outcome) for a in done.attempts] == [
        (1, "w1", AttemptOutcome.FAILED),
        (2, "w2", AttemptOutcome.SUCCEEDED),
    ]
    assert done.attempts[0].error == error  # a long error survives its base64 line breaks


async def test_a_job_cancelled_while_waiting_shows_no_attempt_of_its_own(
    backend: PostgresBackend,
) -> None:
    job = new_job(max_attempts=3)
    await backend.enqueue([job])
    await claim_one(backend)
    await backend.finish([Outcome(job.id, 1, OutcomeKind.RETRY, error=b"{}", delay=3600)])
    await backend.cancel([job.id], ttl=None)
    (record,) = await backend.get([job.id])
    assert record is not None and record.state is JobState.CANCELLED
    assert [(a.attempt, a.outcome) for a in record.attempts or []] == [(1, AttemptOutcome.RETRY)]
    assert await backend.retry([job.id]) == [True]
    (again,) = await backend.get([job.id])
    assert again is not None and again.attempts == record.attempts


async def test_listing_takes_odd_cursors_and_bounds(backend: PostgresBackend) -> None:
    jobs = [new_job() for _ in range(3)]
    await backend.enqueue(jobs)
    assert await backend.list_jobs(JobFilter(), 10, before="not-a-uuid") == []
    assert await backend.list_jobs(JobFilter(since=4e12), 10) == []  # far future
    assert [r.id for r in await backend.list_jobs(JobFilter(until=4e12), 10)] == [
        j.id for j in reversed(jobs)
    ]
    upper = await backend.list_jobs(JobFilter(), 10, before=jobs[2].id.upper())
    assert [r.id for r in upper] == [jobs[1].id, jobs[0].id]


@pytest.fixture
async def runner(pg_url: str) -> AsyncIterator[TaskRunner]:
    runner = TaskRunner(pg_url)
    await runner.connect()
    try:
        yield runner
    finally:
        await runner.close()


async def test_the_runner_shows_attempts_listing_stats_and_workers(runner: TaskRunner) -> None:
    @runner.task(retries=2, backoff=0)
    async def flaky() -> str:
        if current_job().attempt < 3:
            raise ConnectionError(f"attempt {current_job().attempt} timed out")
        return "ok"

    @runner.task(retries=0)
    async def sometimes(fail: bool) -> None:
        if fail:
            raise ValueError("asked to fail")

    @runner.task(queue="idle")
    async def waits() -> None:
        return None

    job = await flaky.enqueue()
    await runner.enqueue_many(sometimes.prepare(i % 4 == 0) for i in range(20))
    await drain(runner, queues=("default",))
    info = await runner.get_job(job.id)
    assert [(a.attempt, a.outcome) for a in info.attempts] == [
        (1, AttemptOutcome.RETRY),
        (2, AttemptOutcome.RETRY),
        (3, AttemptOutcome.SUCCEEDED),
    ]
    first = info.attempts[0]
    assert first.error is not None and first.error.type == "ConnectionError"
    assert "in flaky" in first.error.traceback
    assert first.worker is not None and first.duration is not None and first.duration >= 0

    waiting = await waits.enqueue()
    page = await runner.list_jobs(limit=2)
    assert page.jobs[0].id == waiting.id and page.next == page.jobs[1].id
    failed = await runner.list_jobs(state="failed", limit=10)
    assert len(failed.jobs) == 5 and failed.next is None
    assert [j.id for j in (await runner.list_jobs(queue="idle")).jobs] == [waiting.id]

    stats = await runner.stats(window=60)
    default = stats["default"]
    assert default[JobState.SUCCEEDED] == 16 and default[JobState.FAILED] == 5
    assert default.span is not None and 60 <= default.span < 61  # from a whole second
    assert default.throughput == pytest.approx(23 / default.span)  # 21 jobs, two retries
    assert default.failure_rate == pytest.approx(7 / 23)
    assert default.runtime_p50 is not None and default.runtime_p95 is not None
    assert 0 <= default.runtime_p50 <= default.runtime_p95
    assert default.oldest_queued_age is None
    idle = stats["idle"]
    assert idle[JobState.QUEUED] == 1
    assert idle.oldest_queued_age is not None and idle.oldest_queued_age >= 0

    async with runner.worker(concurrency=3, queues=["idle"]) as worker:
        await eventually(runner.workers)
        (seen,) = (await runner.stats()).workers
        assert (seen.id, seen.concurrency, seen.queues) == (worker.id, 3, ("idle",))
    assert await runner.workers() == []
