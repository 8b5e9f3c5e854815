"""Batches on Postgres beyond the conformance suite: members finishing at once from two
connections fire each callback once, a member moved by plain SQL still counts, a close
racing with an enqueue, callbacks with dedup keys, upkeep of expired batches, claims that
leave the batch's row unwritten while reads count every state, and counts through any SQL
by hand (migrations/0008_batches.sql, 0012_cheaper_batches_and_holds.sql)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest

from taskrunner import JobState
from taskrunner.backend import Beat, LeaseStatus, NewBatch, NewJob, Outcome, OutcomeKind, new_job_id
from taskrunner.errors import BatchNotOpen
from taskrunner.testing.conformance.helpers import WORKER, new_job
from taskrunner_postgres import PostgresBackend


def with_callbacks(**callback: object) -> NewBatch:
    return NewBatch(
        new_job_id(),
        on_success=new_job("tests.on_success", queue="callbacks", **callback),
        on_complete=new_job("tests.on_complete", queue="callbacks", **callback),
    )


async def closed_batch(backend: PostgresBackend, *members: NewJob) -> NewBatch:
    """A closed batch with callbacks whose members are `members` (their batch_id set)."""
    batch = with_callbacks()
    await backend.open_batch(batch)
    await backend.enqueue([replace(job, batch_id=batch.id) for job in members])
    await backend.close_batch(batch.id, ttl=None)
    return batch


async def callback_jobs(admin: asyncpg.Connection, schema: str) -> list[str]:
    rows = await admin.fetch(f'SELECT task FROM "{schema}".jobs WHERE queue = $1', "callbacks")
    return sorted(row[0] for row in rows)


@pytest.fixture
async def peer(pg_url: str, backend: PostgresBackend) -> AsyncIterator[PostgresBackend]:
    """Another process's backend on the same schema, with its own connections."""
    other = PostgresBackend(pg_url)
    await other.connect()
    try:
        yield other
    finally:
        await other.close()


async def test_members_finishing_at_once_fire_each_callback_once(
    backend: PostgresBackend, peer: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    for _ in range(20):  # each round: the last two members end at once on two connections
        batch = with_callbacks()
        await backend.open_batch(batch)
        await backend.enqueue([new_job(batch_id=batch.id) for _ in range(2)])
        await backend.close_batch(batch.id, ttl=None)
        first, second = await backend.claim(["default"], 2, WORKER, 30)
        done = await asyncio.gather(
            backend.finish([Outcome(first.id, 1, OutcomeKind.SUCCEEDED)]),
            peer.finish([Outcome(second.id, 1, OutcomeKind.SUCCEEDED)]),
        )
        assert list(done) == [[True], [True]]
        (record,) = await backend.get_batches([batch.id])
        assert record is not None and record.success_fired and record.complete_fired
    tasks = await callback_jobs(admin, schema)
    assert tasks == ["tests.on_complete"] * 20 + ["tests.on_success"] * 20


async def test_a_member_changed_by_plain_sql_still_counts(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    jobs = [new_job() for _ in range(3)]
    batch = await closed_batch(backend, *jobs)
    await admin.execute(
        f"UPDATE \"{schema}\".jobs SET state = 'succeeded', finished_at = now() "
        "WHERE id = ANY($1::uuid[])",
        [job.id for job in jobs[:2]],
    )
    (record,) = await backend.get_batches([batch.id])
    assert record is not None and record.counts[JobState.SUCCEEDED] == 2
    assert record.counts[JobState.QUEUED] == 1 and not record.complete_fired
    await admin.execute(
        f"UPDATE \"{schema}\".jobs SET state = 'failed' WHERE id = $1::uuid", jobs[2].id
    )
    (record,) = await backend.get_batches([batch.id])
    assert record is not None and record.complete_fired and not record.success_fired
    assert record.ended_at is not None
    assert await callback_jobs(admin, schema) == ["tests.on_complete"]


async def test_a_close_racing_with_enqueues_never_takes_a_late_member(
    backend: PostgresBackend, peer: PostgresBackend
) -> None:
    for _ in range(20):
        batch = NewBatch(new_job_id())
        await backend.open_batch(batch)
        member = new_job(batch_id=batch.id)
        added, closed = await asyncio.gather(
            peer.enqueue([member]),
            backend.close_batch(batch.id, ttl=None),
            return_exceptions=True,
        )
        assert closed is not None and not isinstance(closed, BaseException)
        (record,) = await backend.get_batches([batch.id])
        assert record is not None
        if isinstance(added, BatchNotOpen):  # the close came first: nothing stored
            assert await backend.get([member.id]) == [None] and record.total == 0
        else:  # the member came first: the close counted it
            assert added == [member.id] and record.total == 1 and record.ended_at is None


async def test_a_refused_member_in_a_transaction_leaves_it_usable(
    backend: PostgresBackend, admin: asyncpg.Connection
) -> None:
    batch = NewBatch(new_job_id())
    await backend.open_batch(batch)
    await backend.close_batch(batch.id, ttl=None)
    bystander = new_job()
    async with admin.transaction():
        with pytest.raises(BatchNotOpen):
            await backend.enqueue([bystander, new_job(batch_id=batch.id)], connection=admin)
        assert await admin.fetchval("SELECT 1") == 1  # only the enqueue was rolled back
    assert await backend.get([bystander.id]) == [None]


async def test_a_callback_whose_key_is_taken_is_not_stored_twice(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    holder = new_job("tests.holder", queue="callbacks", key="album:7")
    await backend.enqueue([holder])
    batch = with_callbacks(key="album:7")
    await backend.open_batch(batch)
    record = await backend.close_batch(batch.id, ttl=None)
    assert record is not None and record.success_fired and record.complete_fired
    assert await callback_jobs(admin, schema) == ["tests.holder"]


async def test_an_expired_batch_is_deleted_by_upkeep(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    batch = with_callbacks()
    await backend.open_batch(batch)
    await backend.close_batch(batch.id, ttl=0.01)
    await asyncio.sleep(0.05)
    assert await backend.get_batches([batch.id]) == [None]
    await backend.reclaim()
    for table in ("batches", "batch_callbacks"):
        assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".{table}') == 0


async def batch_row_version(admin: asyncpg.Connection, schema: str, batch_id: str) -> str:
    return str(await admin.fetchval(f'SELECT xmin FROM "{schema}".batches WHERE id = $1', batch_id))


async def test_claims_leave_the_batch_row_alone_and_reads_count_every_state(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    members = [new_job() for _ in range(4)]
    later = new_job(delay=3600)
    batch = await closed_batch(backend, *members, later)
    before = await batch_row_version(admin, schema, batch.id)
    first, second = await backend.claim(["default"], 2, WORKER, 30)
    beats = [Beat(first.id, 1), Beat(second.id, 1)]
    assert await backend.heartbeat(beats, 30) == [LeaseStatus.HELD] * 2
    assert await batch_row_version(admin, schema, batch.id) == before  # 0012: not written
    (record,) = await backend.get_batches([batch.id])  # the states come from the jobs
    assert record is not None and record.total == 5
    expected = {JobState.RUNNING: 2, JobState.QUEUED: 2, JobState.SCHEDULED: 1}
    assert {state: n for state, n in record.counts.items() if n} == expected
    # the members' listing finds the running ones too, in order
    listed = await backend.batch_members(batch.id, 10)
    assert listed == [job.id for job in [*members, later]]
    assert await backend.batch_members(batch.id, 2, first.id) == [second.id, members[2].id]
    await backend.finish([Outcome(first.id, 1, OutcomeKind.SUCCEEDED)])
    (record,) = await backend.get_batches([batch.id])
    assert record is not None and record.counts[JobState.SUCCEEDED] == 1
    assert record.counts[JobState.RUNNING] == 1 and record.ended_at is None


async def test_counts_hold_through_any_sql_by_hand(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    member = new_job()
    batch = await closed_batch(backend, member)

    async def by_hand(assignments: str) -> dict[JobState, int]:
        await admin.execute(f'UPDATE "{schema}".jobs SET {assignments} WHERE id = $1', member.id)
        (record,) = await backend.get_batches([batch.id])
        assert record is not None and record.total == 1
        return {state: n for state, n in record.counts.items() if n}

    assert await by_hand("state = 'running', lease_until = now()") == {JobState.RUNNING: 1}
    assert await by_hand("state = 'queued'") == {JobState.QUEUED: 1}
    assert await by_hand("state = 'failed', finished_at = now()") == {JobState.FAILED: 1}
    assert await callback_jobs(admin, schema) == ["tests.on_complete"]
    assert await by_hand("state = 'queued'") == {JobState.QUEUED: 1}  # retried: un-ended
    (record,) = await backend.get_batches([batch.id])
    assert record is not None and record.ended_at is None
    assert await by_hand("state = 'succeeded'") == {JobState.SUCCEEDED: 1}
    assert await callback_jobs(admin, schema) == ["tests.on_complete", "tests.on_success"]
