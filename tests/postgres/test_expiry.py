"""An expired key holder on Postgres: enqueues that race for its key store exactly one job,
whichever transaction ends first, and the holder is gone from every count."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from taskrunner.backend import JobState, NewJob, Outcome, OutcomeKind
from taskrunner.testing import new_job
from taskrunner_postgres import PostgresBackend

TTL = 0.05


async def expired_holder(backend: PostgresBackend, key: str, queue: str = "default") -> NewJob:
    """A job holding `key` on `queue` (empty) that succeeded with a short retention, now past
    it."""
    holder = new_job(key=key, queue=queue)
    await backend.enqueue([holder])
    await backend.claim([queue], 1, "w", 30)
    await backend.finish([Outcome(holder.id, 1, OutcomeKind.SUCCEEDED, result=b"1", ttl=TTL)])
    await asyncio.sleep(TTL + 0.1)
    return holder


@pytest.mark.parametrize("first_ends", ["commit", "rollback"])
async def test_an_enqueue_waits_for_a_transaction_that_took_an_expired_key(
    backend: PostgresBackend, server: str, first_ends: str
) -> None:
    holder = await expired_holder(backend, "report")
    first, second = new_job(key="report"), new_job(key="report")
    conn = await asyncpg.connect(server)
    try:
        transaction = conn.transaction()
        await transaction.start()
        assert await backend.enqueue([first], connection=conn) == [first.id]
        rival = asyncio.create_task(backend.enqueue([second]))
        await asyncio.sleep(0.3)
        assert not rival.done()  # the key is taken by a transaction still open
        await (transaction.commit() if first_ends == "commit" else transaction.rollback())
        answer = await asyncio.wait_for(rival, 30)
    finally:
        await conn.close()
    winner = first if first_ends == "commit" else second
    assert answer == [winner.id]
    records = await backend.get([holder.id, first.id, second.id])
    assert [r.id if r else None for r in records] == [
        None,
        first.id if winner is first else None,
        second.id if winner is second else None,
    ]
    counts = (await backend.stats(["default"]))["default"]
    assert (counts[JobState.QUEUED], counts[JobState.SUCCEEDED]) == (1, 0)


async def test_many_connections_racing_for_an_expired_key_store_one_job(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    queues = [f"q{n}" for n in range(5)]
    for queue in queues:
        await expired_holder(backend, "report", queue)
        rivals = [new_job(key="report", queue=queue) for _ in range(10)]
        answers = await asyncio.gather(*(backend.enqueue([job]) for job in rivals))
        assert len({answer for (answer,) in answers}) == 1
        stored = await admin.fetchval(
            f'SELECT count(*) FROM "{schema}".jobs WHERE queue = $1', queue
        )
        assert stored == 1
    for counts in (await backend.stats(queues)).values():
        assert (counts[JobState.QUEUED], counts[JobState.SUCCEEDED]) == (1, 0)
