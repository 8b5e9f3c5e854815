"""The chaos worker app: every run of a job's handler is written to a ledger in Postgres.

Environment: TASKRUNNER_URL (the backend under test), LEDGER_DSN and LEDGER_TABLE (a
schema-qualified table with columns job_id, attempt, pid).
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

import asyncpg

from taskrunner import TaskRunner, current_job

TABLE = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")


def make_runner(url: str | None = None) -> TaskRunner:
    runner = TaskRunner(url)

    @runner.on_startup
    async def open_ledger(state: Any) -> None:
        table = os.environ["LEDGER_TABLE"]
        if not TABLE.fullmatch(table):
            raise ValueError(f"LEDGER_TABLE {table!r} is not schema.table")
        state.ledger = await asyncpg.create_pool(os.environ["LEDGER_DSN"], min_size=1, max_size=4)
        state.ledger_insert = f"INSERT INTO {table} (job_id, attempt, pid) VALUES ($1, $2, $3)"

    @runner.on_shutdown
    async def close_ledger(state: Any) -> None:
        await state.ledger.close()

    @runner.task(name="chaos.work", retries=3, backoff=0.05)
    async def work(n: int, fail_first: bool = False, sleep: float = 0.0) -> int:
        job = current_job()
        await runner.state.ledger.execute(
            runner.state.ledger_insert, job.id, job.attempt, os.getpid()
        )
        if sleep:
            await asyncio.sleep(sleep)
        if fail_first and job.attempt == 1:
            raise RuntimeError("the first attempt fails, as asked")
        return n

    return runner


runner = make_runner(os.environ.get("TASKRUNNER_URL"))
