"""Apps that `taskrunner run` worker processes load in the Postgres fault tests.

Each records every attempt it runs as a (job id, attempt, pid) row in the test schema's
`ledger` table, through a pool of its own (named `ledger`, so tests that kill taskrunner's
connections leave it alone).
"""

from __future__ import annotations

import os

import asyncpg

from taskrunner import State, TaskRunner, current_job
from taskrunner_postgres.settings import parse_url

LEDGER_TABLE = "CREATE TABLE {schema}.ledger (job_id uuid NOT NULL, attempt int NOT NULL, pid int)"


def ledger_runner() -> TaskRunner:
    """A runner on TASKRUNNER_URL whose workers open the ledger pool at startup."""
    runner = TaskRunner()

    @runner.on_startup
    async def open_ledger(state: State) -> None:
        dsn, settings = parse_url(runner.url)
        state.ledger = await asyncpg.create_pool(
            dsn, min_size=1, max_size=4, server_settings={"application_name": "ledger"}
        )
        state.schema = settings.schema

    @runner.on_shutdown
    async def close_ledger(state: State) -> None:
        await state.ledger.close()

    return runner


async def record_attempt(state: State) -> None:
    """Write the running attempt to the ledger."""
    job = current_job()
    await state.ledger.execute(
        f'INSERT INTO "{state.schema}".ledger VALUES ($1, $2, $3)',
        job.id,
        job.attempt,
        os.getpid(),
    )
