"""A worker app for the limit tests across processes: each attempt of `limited.run` writes
'start:<group>:<pid>:<job id>:<attempt>' to a Redis list when it begins and 'end:...' when it
ends, so a test can replay who ran at once per limit key (its group).

Environment: TASKRUNNER_URL (the backend), LEDGER_REDIS (where the list lives) and LEDGER_KEY.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import redis.asyncio as aioredis

from taskrunner import Limit, TaskRunner, current_job

MAX_PER_GROUP = 2


def make_runner(url: str | None = None) -> TaskRunner:
    runner = TaskRunner(url)
    key = os.environ.get("LEDGER_KEY", "ledger") + ":flow"

    @runner.on_startup
    async def open_ledger(state: Any) -> None:
        state.ledger = aioredis.Redis.from_url(os.environ["LEDGER_REDIS"])

    @runner.on_shutdown
    async def close_ledger(state: Any) -> None:
        await state.ledger.aclose()

    @runner.task(name="limited.run", retries=5, limit=Limit(MAX_PER_GROUP, key="group:{group}"))
    async def run(group: int, sleep: float = 0.05) -> int:
        job = current_job()
        entry = f"{group}:{os.getpid()}:{job.id}:{job.attempt}"
        await runner.state.ledger.rpush(key, f"start:{entry}")
        await asyncio.sleep(sleep)
        await runner.state.ledger.rpush(key, f"end:{entry}")
        return group

    return runner


runner = make_runner(os.environ.get("TASKRUNNER_URL"))
