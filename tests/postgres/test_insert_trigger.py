"""The one INSERT trigger of migrations/0015_one_insert_trigger.sql: a lone job's short way
and the general way count the same, for every kind of job and whatever writes the table;
the batches' counts stay exact; an upgrade from 0014 keeps both."""

from __future__ import annotations

import uuid

import asyncpg

from taskrunner import JobState
from taskrunner.backend import NewBatch, Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import WORKER, claim_one, new_job
from taskrunner_postgres import PostgresBackend
from tests.postgres.test_inspection import agree, apply_first_migrations

BEFORE_0015 = 13  # 0001..0009, 0011..0014
INSERT = (
    'INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, payload, '
    "finished_at) VALUES (gen_random_uuid(), 't', $1, $2, now() + make_interval(secs => $3), "
    "1, '', CASE WHEN $2 IN ('succeeded', 'failed', 'cancelled') THEN now() END)"
)
MINE = (
    'SELECT COALESCE(sum(unfinished), 0) FROM "{schema}".tallies '
    "WHERE queue = $1 AND slot = pg_backend_pid()"
)


async def members(backend: PostgresBackend, batch: str) -> int:
    (record,) = await backend.get_batches([batch])
    assert record is not None
    assert sum(record.counts.values()) == record.total
    return record.total


async def test_lone_jobs_of_every_kind_are_counted(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    batch = str(uuid.uuid4())
    await backend.open_batch(NewBatch(id=batch))
    await backend.enqueue([new_job(queue="hot", limit_key="k", limit_max=1) for _ in range(101)])
    await backend.enqueue([new_job(queue="f")])
    failing = await claim_one(backend, "f")
    await backend.finish([Outcome(failing.id, 1, OutcomeKind.FAILED, error=b"{}")])
    plain = new_job(queue="a")
    lone = [
        plain,
        plain,  # again: stores nothing, counts nothing
        new_job(queue="a", delay=3600),  # due in a later minute: `scheduled` there too
        new_job(queue="a", delay=0.5),
        new_job(queue="a", at=1.0),  # due long ago: queued
        new_job(queue="b", batch_id=batch),
        new_job(queue="b", batch_id=batch, delay=3600),
        new_job(queue="c", after=(plain.id,)),  # waiting
        new_job(queue="c", after=(failing.id,)),  # cancelled at once
        new_job(queue="hot", limit_key="k", limit_max=1),  # held behind the backlog
    ]
    for job in lone:
        await backend.enqueue([job])
        await agree(backend, admin, schema)
    stats = await backend.stats()
    assert stats["c"][JobState.WAITING] == 1 and stats["c"][JobState.CANCELLED] == 1
    held = await admin.fetchval(f'SELECT held FROM "{schema}".jobs WHERE id = $1', lone[-1].id)
    assert held == "limit"
    assert await members(backend, batch) == 2
    # several jobs in one statement, of several queues and a batch: the general way
    await backend.enqueue(
        [new_job(queue="a"), new_job(queue="b", batch_id=batch), new_job(queue="d", delay=3600)]
    )
    await agree(backend, admin, schema)
    assert await members(backend, batch) == 3


async def test_rows_written_by_hand_are_counted_one_by_one(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    insert = INSERT.format(schema=schema)
    for state in ("queued", "running", "succeeded", "failed", "cancelled", "waiting"):
        await admin.execute(insert, "x", state, 0.0)
        await agree(backend, admin, schema)
    await admin.execute(insert, "x", "scheduled", 7200.0)
    await agree(backend, admin, schema)
    mine = MINE.format(schema=schema)
    before = await admin.fetchval(mine, "y")
    await admin.execute(insert, "y", "queued", 0.0)  # the minute's first write: a new row
    await admin.execute(insert, "y", "queued", 0.0)  # then added to it
    assert await admin.fetchval(mine, "y") == before + 2
    # a row of this connection that upkeep folded away meanwhile: written again
    await admin.execute(
        f'DELETE FROM "{schema}".tallies WHERE queue = $1 AND slot = pg_backend_pid()', "y"
    )
    await admin.execute(insert, "y", "queued", 0.0)
    assert await admin.fetchval(mine, "y") == 1


async def test_an_upgrade_from_0014_keeps_the_counts(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await apply_first_migrations(admin, schema, BEFORE_0015)
    batch = str(uuid.uuid4())
    await admin.execute(f'INSERT INTO "{schema}".batches (id) VALUES ($1)', batch)
    await admin.execute(
        f'INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, payload, '
        "batch_id) SELECT gen_random_uuid(), 't', 'q', 'queued', now(), 1, '', "
        "CASE WHEN g % 2 = 0 THEN $1::uuid END FROM generate_series(1, 5) AS g",
        batch,
    )
    backend = PostgresBackend(pg_url)
    await backend.connect()  # applies 0015
    try:
        triggers = await admin.fetch(
            "SELECT t.tgname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relname = 'jobs' AND t.tgname LIKE '%stored'",
            schema,
        )
        assert [t["tgname"] for t in triggers] == ["jobs_stored"]
        assert await members(backend, batch) == 2
        await backend.enqueue([new_job(queue="q")])
        await backend.enqueue([new_job(queue="q", batch_id=batch)])
        await backend.enqueue([new_job(queue="q", batch_id=batch), new_job(queue="r")])
        assert await members(backend, batch) == 4
        await agree(backend, admin, schema)
        await backend.close_batch(batch, None)
        while claimed := await backend.claim(["q"], 10, WORKER, 30):
            await backend.finish([Outcome(j.id, j.attempt, OutcomeKind.SUCCEEDED) for j in claimed])
        (record,) = await backend.get_batches([batch])
        assert record is not None and record.ended_at is not None
        assert record.counts[JobState.SUCCEEDED] == 4
        await agree(backend, admin, schema)
    finally:
        await backend.close()
