"""Jobs enqueued on the caller's connection live and die with the caller's transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from taskrunner import JobNotFound, JobState, TaskRunner


@pytest.fixture
async def runner(pg_url: str) -> AsyncIterator[TaskRunner]:
    runner = TaskRunner(pg_url)
    await runner.connect()
    try:
        yield runner
    finally:
        await runner.close()


async def test_rollback_leaves_no_job(runner: TaskRunner, server: str, schema: str) -> None:
    @runner.task
    async def send_receipt(order: int) -> None: ...

    conn = await asyncpg.connect(server)
    try:
        async with conn.transaction():
            job = await send_receipt.options(connection=conn).enqueue(42)
            (batch,) = await runner.enqueue_many([send_receipt.prepare(43)], connection=conn)
            # inside the transaction the job is there; outside it is not, nor claimable
            assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".jobs') == 2
            with pytest.raises(JobNotFound):
                await runner.get_job(job.id)
            assert await runner.backend.claim(["default"], 10, "w", 30) == []
            await conn.execute("SELECT 1 / 0")  # the app's own work fails
    except asyncpg.DivisionByZeroError:
        pass
    finally:
        await conn.close()
    for lost in (job, batch):
        with pytest.raises(JobNotFound):
            await runner.get_job(lost.id)
    assert sum((await runner.stats(["default"]))["default"].values()) == 0


async def test_commit_makes_the_job_claimable_and_wakes_workers(
    runner: TaskRunner, server: str
) -> None:
    @runner.task
    async def send_receipt(order: int) -> None: ...

    backend = runner.backend
    conn = await asyncpg.connect(server)
    try:
        transaction = conn.transaction()
        await transaction.start()
        job = await send_receipt.options(connection=conn, key="order:42").enqueue(42)
        waiting = asyncio.create_task(backend.wait(["default"], 30))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # NOTIFY is held until commit
        assert await backend.claim(["default"], 10, "w", 30) == []
        await transaction.commit()
        await asyncio.wait_for(waiting, 10)
    finally:
        await conn.close()
    assert (await runner.get_job(job.id)).state is JobState.QUEUED
    (claimed,) = await backend.claim(["default"], 10, "w", 30)
    assert claimed.id == job.id
    again = await send_receipt.options(key="order:42").enqueue(42)
    assert again.duplicate and again.id == job.id
