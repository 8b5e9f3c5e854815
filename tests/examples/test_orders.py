"""examples/orders.py: the order row and its job commit together, or neither is stored."""

from __future__ import annotations

import asyncio
import importlib
import re
import subprocess
from collections.abc import AsyncIterator
from types import ModuleType

import asyncpg
import pytest

from taskrunner import JobNotFound, JobState
from tests.examples.conftest import POSTGRES_URL, REPO, shell_env, without_uv_run


@pytest.fixture
def orders(pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example module, configured for this test's own schema."""
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    monkeypatch.setenv("SHOP_SCHEMA", pg_schema)
    import examples.orders

    return importlib.reload(examples.orders)


@pytest.fixture
async def conn(orders: ModuleType) -> AsyncIterator[asyncpg.Connection]:
    pool = await orders.open_pool()
    async with orders.runner, pool.acquire() as connection:
        await orders.create_tables(connection)
        await connection.execute("INSERT INTO stock VALUES ('mug', 3)")
        yield connection
    await pool.close()


async def count(conn: asyncpg.Connection, table: str) -> int:
    value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return value


async def test_commit_stores_the_order_and_its_job(
    orders: ModuleType, conn: asyncpg.Connection, pg_schema: str
) -> None:
    order_id, job = await orders.place_order(conn, "ada@example.com", "mug", 2)
    assert await count(conn, "orders") == 1
    assert await count(conn, f'"{pg_schema}".jobs') == 1  # taskrunner's table, same schema
    info = await orders.runner.get_job(job.id)
    assert info.state is JobState.QUEUED
    assert (info.task, info.args) == ("examples.orders.send_confirmation", [order_id])


async def test_rollback_stores_neither(
    orders: ModuleType, conn: asyncpg.Connection, pg_schema: str
) -> None:
    with pytest.raises(orders.OutOfStock):
        await orders.place_order(conn, "bob@example.com", "mug", 5)
    assert await count(conn, "orders") == 0
    assert await count(conn, f'"{pg_schema}".jobs') == 0
    assert await conn.fetchval("SELECT available FROM stock") == 3
    stats = await orders.runner.stats()
    assert all(n == 0 for counts in stats.values() for n in counts.values())


async def test_the_worker_sends_each_confirmation_once(
    orders: ModuleType, conn: asyncpg.Connection
) -> None:
    order_id, job = await orders.place_order(conn, "ada@example.com", "mug", 1)
    await orders.runner.worker(burst=True).run()
    assert await job.result(timeout=5) == "confirmation sent to ada@example.com"
    # the same job run again (at-least-once delivery allows it) sends nothing more
    again = await orders.send_confirmation.enqueue(order_id)
    await orders.runner.worker(burst=True).run()
    assert await again.result(timeout=5) == f"order {order_id} was already confirmed"
    assert await count(conn, "sent_emails") == 1
    assert await conn.fetchval("SELECT confirmed_at IS NOT NULL FROM orders") is True
    with pytest.raises(JobNotFound):
        await orders.runner.get_job("00000000-0000-0000-0000-000000000000")


async def test_the_documented_command_runs(orders: ModuleType, pg_schema: str) -> None:
    (command,) = re.findall(r"^\s+(uv run python examples/orders\.py)$", orders.__doc__ or "", re.M)
    env = shell_env(DATABASE_URL=POSTGRES_URL, SHOP_SCHEMA=pg_schema)
    for _ in range(2):  # and it can run again on the same database
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", without_uv_run(command)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert re.fullmatch(r"order \d+ committed with its job \S+", lines[0])
        assert lines[1] == "second order rolled back (not enough mug left): no row, no job"
        assert lines[2] == "jobs waiting: 1"
        assert re.fullmatch(r"job \S+: confirmation sent to ada@example.com", lines[3])
