"""The task registry on Postgres (migrations/0011_task_registry.sql), beyond the conformance
suite: a worker publishes its tasks when it starts, and a client without the tasks' code
reads them from the database."""

from __future__ import annotations

import asyncpg

from taskrunner import Limit, TaskRunner
from taskrunner.backend import TaskRegistry
from taskrunner.registry import TaskSpec, registered_task


async def test_a_worker_publishes_its_tasks_for_clients_without_their_code(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    worker_side, client_side = TaskRunner(pg_url), TaskRunner(pg_url)

    @worker_side.task(name="crm.sync", queue="crm", retries=2, limit=Limit(2, key="c:{cid}"))
    async def sync(cid: int, *, full: bool = False) -> None: ...

    await worker_side.connect()
    await client_side.connect()
    try:
        assert isinstance(client_side.backend, TaskRegistry)
        assert await registered_task(client_side, client_side.backend, "crm.sync") is None
        await worker_side.worker(burst=True).run()
        twin = await registered_task(client_side, client_side.backend, "crm.sync")
        assert twin is not None
        assert (twin.settings.queue, twin.settings.retries) == ("crm", 2)
        assert twin.prepare(7, full=True).new.limit_key == "c:7"
    finally:
        await worker_side.close()
        await client_side.close()
    stored = await admin.fetchval(
        f'SELECT spec FROM "{schema}".task_specs WHERE name = $1', "crm.sync"
    )
    assert TaskSpec.decode(stored) == TaskSpec.of(sync)
