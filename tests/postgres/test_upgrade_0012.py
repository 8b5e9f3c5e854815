"""Upgrading a schema from 0011 to 0012 (migrations/0012_cheaper_batches_and_holds.sql): a
batch stored before keeps its total and finished counts, reads count its other members
from the jobs, its callbacks fire once when its last member ends; a key's old backlog is
still set aside by the claim, and new jobs behind it are held at enqueue."""

from __future__ import annotations

import uuid

import asyncpg

from taskrunner import JobState
from taskrunner.backend import NewJob, Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import WORKER
from taskrunner_postgres import PostgresBackend
from tests.postgres.test_inspection import agree, apply_first_migrations

BEFORE_0012 = 10  # 0001..0009 and 0011


async def test_an_upgrade_from_0011_keeps_batches_and_limits(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await apply_first_migrations(admin, schema, BEFORE_0012)
    batch = str(uuid.uuid4())
    jobs = f'"{schema}".jobs'
    await admin.execute(f'INSERT INTO "{schema}".batches (id) VALUES ($1)', batch)
    await admin.execute(
        f"INSERT INTO {jobs} (id, task, queue, state, run_at, max_attempts, payload, batch_id) "
        "SELECT gen_random_uuid(), 't', 'members', s, now(), 1, '', $1 "
        "FROM unnest(ARRAY['queued', 'queued', 'succeeded']) AS s",
        batch,
    )
    await admin.execute(
        f"INSERT INTO {jobs} (id, task, queue, state, run_at, max_attempts, payload, "
        "limit_key, limit_max) SELECT gen_random_uuid(), 't', 'q', 'queued', now(), 1, '', "
        "'hot', 1 FROM generate_series(1, 150)"
    )
    await admin.execute(f'UPDATE "{schema}".batches SET closed = true WHERE id = $1', batch)
    backend = PostgresBackend(pg_url)
    await backend.connect()  # applies 0012
    try:
        (record,) = await backend.get_batches([batch])
        assert record is not None and record.total == 3
        assert {s: n for s, n in record.counts.items() if n} == {
            JobState.QUEUED: 2,
            JobState.SUCCEEDED: 1,
        }
        claimed = await backend.claim(["members"], 2, WORKER, 30)
        await backend.finish([Outcome(job.id, 1, OutcomeKind.SUCCEEDED) for job in claimed])
        (record,) = await backend.get_batches([batch])
        assert record is not None and record.ended_at is not None and record.complete_fired
        late = NewJob(id=str(uuid.uuid4()), task="t", queue="q", payload=b"{}",
                      limit_key="hot", limit_max=1)  # fmt: skip
        await backend.enqueue([late])
        assert await admin.fetchval(f"SELECT held FROM {jobs} WHERE id = $1", late.id) == "limit"
        ran = 0
        while claimed := await backend.claim(["q"], 10, WORKER, 30):
            ran += len(claimed)
            await backend.finish([Outcome(j.id, j.attempt, OutcomeKind.SUCCEEDED) for j in claimed])
        assert ran == 151
        await agree(backend, admin, schema)
    finally:
        await backend.close()
