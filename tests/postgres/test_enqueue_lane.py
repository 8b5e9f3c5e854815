"""The enqueue lane (taskrunner_postgres/store.py): enqueues run on one pooled connection
kept for them; one that finds it in use, or fails, or is cancelled, or whose connection
died, leaves the lane and the pool usable; a small pool keeps no lane; closing gives the
lane's connection back."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from taskrunner.backend import NewBatch
from taskrunner.errors import BatchNotOpen
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_postgres import PostgresBackend
from tests.helpers import eventually


def lane_pid(backend: PostgresBackend) -> int | None:
    lane = backend._store._lane
    return None if lane is None else lane.get_server_pid()


async def stored(admin: asyncpg.Connection, schema: str, job_id: str) -> bool:
    found = await admin.fetchval(f'SELECT count(*) FROM "{schema}".jobs WHERE id = $1', job_id)
    return bool(found == 1)


async def test_enqueues_share_one_connection(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    await backend.enqueue([new_job()])
    first = lane_pid(backend)
    assert first is not None
    await backend.enqueue([new_job(), new_job()])
    assert lane_pid(backend) == first
    # a second enqueue while the lane is in use runs on another pooled connection
    jobs = [new_job() for _ in range(8)]
    await asyncio.gather(*(backend.enqueue([job]) for job in jobs))
    assert all([await stored(admin, schema, job.id) for job in jobs])


async def test_a_failed_enqueue_leaves_the_lane_usable(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    await backend.enqueue([new_job()])
    with pytest.raises(BatchNotOpen):
        await backend.enqueue([new_job(batch_id=str(uuid.uuid4()))])
    job = new_job()
    await backend.enqueue([job])
    assert await stored(admin, schema, job.id)
    lane = backend._store._lane
    assert lane is not None and not lane.is_in_transaction()


async def test_a_cancelled_enqueue_leaves_the_lane_usable(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    batch = str(uuid.uuid4())
    await backend.open_batch(NewBatch(id=batch))
    await backend.enqueue([new_job()])
    blocked = new_job(batch_id=batch)
    async with admin.transaction():  # the member's insert waits for the batch's row
        await admin.execute(f'SELECT 1 FROM "{schema}".batches WHERE id = $1 FOR UPDATE', batch)
        pid = lane_pid(backend)
        waiting = asyncio.create_task(backend.enqueue([blocked]))
        await eventually(
            lambda: admin.fetchval(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
            )
        )
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    job = new_job(batch_id=batch)
    await backend.enqueue([job])
    assert await stored(admin, schema, job.id)
    assert not await stored(admin, schema, blocked.id)


async def test_a_lost_lane_is_replaced(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    await backend.enqueue([new_job()])
    await admin.execute("SELECT pg_terminate_backend($1)", lane_pid(backend))
    job = new_job()
    await backend.enqueue([job])  # found dead, then run on a new connection
    assert await stored(admin, schema, job.id)
    await backend.enqueue([new_job()])
    assert lane_pid(backend) is not None


async def test_a_small_pool_keeps_no_lane(pg_url: str) -> None:
    backend = PostgresBackend(f"{pg_url}&pool_min=1&pool_max=3")
    await backend.connect()
    try:
        await backend.enqueue([new_job()])
        assert backend._store._lane is None
    finally:
        await backend.close()


async def test_closing_gives_the_lane_back(pg_url: str) -> None:
    backend = PostgresBackend(pg_url)
    await backend.connect()
    pool = backend._store.require_pool()
    await backend.enqueue([new_job()])
    assert lane_pid(backend) is not None
    await backend.close()
    assert lane_pid(backend) is None and pool.is_closing()
