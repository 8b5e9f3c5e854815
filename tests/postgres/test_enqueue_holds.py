"""Holds at enqueue on Postgres (migrations/0012_cheaper_batches_and_holds.sql): a queued job
with a limit key behind more than limit_max + 100 jobs of its key that would run before it
is stored held, whatever stores it (the backend, `<schema>.enqueue(...)`, SQL by hand); jobs
ahead of the backlog, waiting jobs and scheduled jobs are not; held jobs still run in claim
order, one slot at a time; and one held in a transaction still open is not left behind."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from taskrunner import JobState
from taskrunner.backend import NewJob, Outcome, OutcomeKind
from taskrunner_postgres import PostgresBackend
from tests.postgres.sql_enqueue import sql_enqueue
from tests.postgres.test_sql_enqueue import runner  # noqa: F401 (the fixture: the shop app)

MARGIN = 100  # queued jobs a key may have beyond limit_max before enqueues hold


def hot_job(queue: str = "q", key: str = "hot", limit: int = 1, **more: object) -> NewJob:
    return NewJob(
        id=str(uuid.uuid4()), task="t", queue=queue, payload=b"{}", limit_key=key,
        limit_max=limit, **more,  # type: ignore[arg-type]
    )  # fmt: skip


async def held_ids(admin: asyncpg.Connection, schema: str) -> set[str]:
    rows = await admin.fetch(f"SELECT id::text FROM \"{schema}\".jobs WHERE held = 'limit'")
    return {row[0] for row in rows}


async def drain_one_at_a_time(backend: PostgresBackend, queue: str = "q") -> list[str]:
    """Claim and finish the queue's jobs until none is left: the ids in the order they ran."""
    ran: list[str] = []
    while claimed := await backend.claim([queue], 10, "w", 30):
        ran.extend(job.id for job in claimed)
        await backend.finish([Outcome(j.id, j.attempt, OutcomeKind.SUCCEEDED) for j in claimed])
    return ran


async def test_jobs_beyond_the_margin_are_stored_held(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    jobs = [hot_job(limit=2) for _ in range(2 + MARGIN + 5)]
    await backend.enqueue(jobs[:50])
    await backend.enqueue(jobs[50:])  # one statement: its earlier rows count for its later
    assert await held_ids(admin, schema) == {job.id for job in jobs[-5:]}
    one_more = hot_job(limit=2)
    await backend.enqueue([one_more])
    assert one_more.id in await held_ids(admin, schema)
    stats = await backend.stats(["q"])
    assert stats["q"][JobState.QUEUED] == len(jobs) + 1  # held jobs count as queued


async def test_two_keys_interleaved_in_one_enqueue_are_held_each_on_its_own_backlog(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    keys = ["hot", "warm\nkey", "warm"]  # a line break in a key changes nothing
    jobs = [hot_job(key=keys[n % 3]) for n in range(3 * (1 + MARGIN + 3))]
    await backend.enqueue(jobs)
    assert await held_ids(admin, schema) == {job.id for job in jobs[-9:]}


async def test_jobs_that_would_run_earlier_or_elsewhere_are_not_held(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    await backend.enqueue([hot_job() for _ in range(1 + MARGIN + 1)])
    backlog = await held_ids(admin, schema)
    urgent = hot_job(priority=-1)  # ahead of the whole backlog in claim order
    later = hot_job(delay=3600)  # scheduled: judged when claimed
    other_key = hot_job(key="cold")
    other_queue = hot_job(queue="elsewhere")
    plain = NewJob(id=str(uuid.uuid4()), task="t", queue="q", payload=b"{}")
    await backend.enqueue([urgent, later, other_key, other_queue, plain])
    assert await held_ids(admin, schema) == backlog
    claimed = await backend.claim(["q"], 3, "w", 30)
    assert {job.id for job in claimed} == {urgent.id, other_key.id, plain.id}


async def test_held_jobs_run_in_claim_order_one_at_a_time(backend: PostgresBackend) -> None:
    jobs = [hot_job() for _ in range(1 + MARGIN + 20)]  # the last 20 held
    await backend.enqueue(jobs)
    late_but_urgent = hot_job(priority=-1)
    await backend.enqueue([late_but_urgent])
    ran = await drain_one_at_a_time(backend)
    assert ran == [late_but_urgent.id] + [job.id for job in jobs]


async def test_a_waiting_job_is_not_held_and_runs_once_its_dependency_succeeds(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    await backend.enqueue([hot_job() for _ in range(1 + MARGIN + 1)])
    first = NewJob(id=str(uuid.uuid4()), task="t", queue="deps", payload=b"{}")
    dependent = hot_job(after=(first.id,))
    await backend.enqueue([first])
    await backend.enqueue([dependent])
    (record,) = await backend.get([dependent.id])
    assert record is not None and record.state is JobState.WAITING
    assert dependent.id not in await held_ids(admin, schema)
    (claimed,) = await backend.claim(["deps"], 1, "w", 30)
    await backend.finish([Outcome(claimed.id, 1, OutcomeKind.SUCCEEDED)])
    (record,) = await backend.get([dependent.id])
    assert record is not None and record.state is JobState.QUEUED
    assert dependent.id in await drain_one_at_a_time(backend)


async def test_an_insert_by_hand_is_held_too(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    await backend.enqueue([hot_job() for _ in range(1 + MARGIN)])
    row = await admin.fetchrow(
        f'INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, payload, '
        "limit_key, limit_max) VALUES (gen_random_uuid(), 't', 'q', 'queued', now(), 1, '', "
        "'hot', 1) RETURNING id::text, held"
    )
    assert row is not None and row["held"] == "limit"
    assert row["id"] in await drain_one_at_a_time(backend)


@pytest.mark.usefixtures("runner")  # the shop app, its tasks published
async def test_the_sql_enqueue_function_holds_too(admin: asyncpg.Connection, schema: str) -> None:
    # crm.lazy: Limit(1, key="region:{region}")
    calls = range(1 + MARGIN + 2)
    ids = [await sql_enqueue(admin, schema, "crm.lazy", ["acme", "eu"]) for _ in calls]
    assert await held_ids(admin, schema) == set(ids[-2:])


async def test_a_job_held_in_an_open_transaction_is_not_left_behind(
    backend: PostgresBackend, pg_url: str, admin: asyncpg.Connection
) -> None:
    backlog = [hot_job() for _ in range(1 + MARGIN)]
    await backend.enqueue(backlog)
    held = hot_job()
    async with admin.transaction():
        await backend.enqueue([held], connection=admin)
        # meanwhile workers drain what they can: one job of the backlog stays locked
        peer = PostgresBackend(pg_url)
        await peer.connect()
        try:
            ran = await drain_one_at_a_time(peer)
        finally:
            await peer.close()
        assert len(ran) == len(backlog) - 1
    ran += await drain_one_at_a_time(backend)
    assert sorted(ran) == sorted(job.id for job in [*backlog, held])
    assert (await backend.stats(["q"]))["q"][JobState.QUEUED] == 0


async def test_racing_enqueues_and_drains_leave_no_job_behind(
    backend: PostgresBackend, pg_url: str
) -> None:
    peer = PostgresBackend(pg_url)
    await peer.connect()
    try:
        await backend.enqueue([hot_job() for _ in range(1 + MARGIN)])
        stored = asyncio.gather(*(peer.enqueue([hot_job()]) for _ in range(200)))
        ran = await drain_one_at_a_time(backend)
        await stored
        ran += await drain_one_at_a_time(backend)
    finally:
        await peer.close()
    assert len(set(ran)) == 1 + MARGIN + 200
