"""The chaos worker app: every run of a job's handler is written to a ledger in Postgres.

Environment: TASKRUNNER_URL (the backend under test), LEDGER_DSN and LEDGER_TABLE (a
schema-qualified table with columns job_id, attempt, pid, key, started, ended: see
`tests/chaos/conftest.py`).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from taskrunner import TaskRunner, current_job

TABLE = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")


def attach_ledger(runner: TaskRunner) -> None:
    """Open a pool to the ledger when the worker starts (`runner.state.ledger`), close it
    when it stops."""

    @runner.on_startup
    async def open_ledger(state: Any) -> None:
        table = os.environ["LEDGER_TABLE"]
        if not TABLE.fullmatch(table):
            raise ValueError(f"LEDGER_TABLE {table!r} is not schema.table")
        state.ledger = await asyncpg.create_pool(os.environ["LEDGER_DSN"], min_size=1, max_size=4)
        state.ledger_table = table

    @runner.on_shutdown
    async def close_ledger(state: Any) -> None:
        await state.ledger.close()


async def record_start(runner: TaskRunner, key: str | None = None) -> None:
    """Write this attempt's row: job id, attempt, pid, key and wall-clock start."""
    started = time.time()
    job = current_job()
    await runner.state.ledger.execute(
        f"INSERT INTO {runner.state.ledger_table} (job_id, attempt, pid, key, started) "
        "VALUES ($1, $2, $3, $4, $5)",
        job.id,
        job.attempt,
        os.getpid(),
        key,
        started,
    )


@asynccontextmanager
async def ledger_entry(runner: TaskRunner, key: str | None = None) -> AsyncIterator[None]:
    """Write this attempt's row on entry and its wall-clock end on a normal exit. Both times
    are taken inside the attempt, so the span recorded lies within the span during which the
    attempt held its slot."""
    await record_start(runner, key)
    yield
    ended = time.time()
    job = current_job()
    await runner.state.ledger.execute(
        f"UPDATE {runner.state.ledger_table} SET ended = $4 "
        "WHERE job_id = $1 AND attempt = $2 AND pid = $3",
        job.id,
        job.attempt,
        os.getpid(),
        ended,
    )


def make_runner(url: str | None = None) -> TaskRunner:
    runner = TaskRunner(url)
    attach_ledger(runner)

    @runner.task(name="chaos.work", retries=3, backoff=0.05)
    async def work(n: int, fail_first: bool = False, sleep: float = 0.0) -> int:
        await record_start(runner)
        if sleep:
            await asyncio.sleep(sleep)
        if fail_first and current_job().attempt == 1:
            raise RuntimeError("the first attempt fails, as asked")
        return n

    # write each run's start and end: a batch's members and callbacks. `chaos.fleeting`
    # keeps no record once done, so that nothing but the batch remembers it ran.
    for name, ttl in (("chaos.noted", None), ("chaos.fleeting", 0.05)):

        @runner.task(name=name, retries=3, backoff=0.05, result_ttl=ttl)
        async def noted(n: int) -> int:
            async with ledger_entry(runner):
                return n

    return runner


runner = make_runner(os.environ.get("TASKRUNNER_URL"))
