"""What the tests of `<schema>.enqueue(...)` (migrations/0011_task_registry.sql) share: an
app whose worker publishes its tasks, and the two ways the tests call the function, over
asyncpg and with psql."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from typing import Any

import asyncpg
import orjson
import pytest

from taskrunner import Limit, Rate, TaskRunner
from taskrunner._serialization import DEFAULT_MAX_PAYLOAD


def shop(url: str, max_payload: int = DEFAULT_MAX_PAYLOAD) -> TaskRunner:
    """A runner with tasks of every kind of signature and key the function deals with."""
    runner = TaskRunner(url, max_payload=max_payload)

    @runner.task(name="shop.receipt")
    async def receipt(order: int, note: str = "") -> str:
        return f"receipt {order}: {note}"

    @runner.task(name="crm.sync", queue="crm", retries=5, priority=-1,
                 limit=Limit(2, key="customer:{customer_id}"), rate=Rate(10, per=2.0))  # fmt: skip
    async def sync(customer_id: int, /, full: bool = False, *, reason: str) -> None: ...

    @runner.task(name="feeds.fetch", rate=Rate(5, key="host:{host}"))
    async def fetch(url: str, fresh: bool = False, **options: Any) -> None: ...

    @runner.task(name="math.total", limit=Limit(3, key="{{sum}}"))
    def total(*numbers: float) -> float:
        return sum(numbers)

    @runner.task(name="misc.echo")
    def echo(*args: Any, **kwargs: Any) -> list[Any]:
        return [args, kwargs]

    @runner.task(name="misc.mixed")
    def mixed(a: int, /, b: int, c: int = 1, *rest: int, d: int, e: int = 2, **more: int) -> None:
        pass

    @runner.task(name="crm.computed", limit=Limit(1, key=lambda account: f"a:{account}"))
    async def computed(account: str) -> None: ...

    @runner.task(name="crm.fancy", limit=Limit(1, key="a:{account!r}"))
    async def fancy(account: str) -> None: ...

    @runner.task(name="crm.lazy", limit=Limit(1, key="region:{region}"))
    async def lazy(account: str, region: str = "eu") -> None: ...

    return runner


async def published(runner: TaskRunner) -> None:
    """Connect, and let a worker start (and so publish the tasks) and stop."""
    await runner.connect()
    await runner.worker(burst=True).run()


async def sql_enqueue(
    conn: asyncpg.Connection,
    schema: str,
    task: str | None,
    args: Any = None,
    kwargs: Any = None,
    **options: Any,
) -> str:
    """`<schema>.enqueue(task, args, kwargs, option => value, ...)`; args and kwargs as
    Python values sent as JSON (None: SQL NULL, which the function reads as none)."""
    named = "".join(f", {name} => ${i}" for i, name in enumerate(options, start=4))
    statement = f'SELECT "{schema}".enqueue($1, $2::jsonb, $3::jsonb{named})'
    as_json = [None if value is None else orjson.dumps(value).decode() for value in (args, kwargs)]
    return str(await conn.fetchval(statement, task, *as_json, *options.values()))


def psql(server: str, statement: str) -> subprocess.CompletedProcess[str]:
    """Run one statement with the psql command line (its answer unaligned, without
    headers), stopping at the first error."""
    program = shutil.which("psql")
    if program is None:
        pytest.skip("psql is not installed")
    return subprocess.run(
        [program, server, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", statement],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def psql_async(server: str, statement: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(psql, server, statement)
