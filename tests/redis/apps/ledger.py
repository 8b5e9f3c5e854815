"""A worker app for fault tests: every execution is written to a ledger list in Redis.

Environment: TASKRUNNER_URL (the backend), LEDGER_REDIS (where the ledger lives) and
LEDGER_KEY. With WITH_TICKS=1 it also has a task ticking every second.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import redis.asyncio as aioredis

from taskrunner import TaskRunner, current_job, every


def make_runner(url: str | None = None, with_ticks: bool = False) -> TaskRunner:
    runner = TaskRunner(url)
    ledger = os.environ.get("LEDGER_KEY", "ledger")

    @runner.on_startup
    async def open_ledger(state: Any) -> None:
        state.ledger = aioredis.Redis.from_url(os.environ["LEDGER_REDIS"])

    @runner.on_shutdown
    async def close_ledger(state: Any) -> None:
        await state.ledger.aclose()

    @runner.task(name="ledger.record", retries=5, backoff=0.05)
    async def record(n: int, sleep: float = 0.0) -> int:
        job = current_job()
        entry = f"{job.id}:{job.attempt}"
        await runner.state.ledger.rpush(f"{ledger}:started", entry)
        if sleep:
            await asyncio.sleep(sleep)
        await runner.state.ledger.rpush(ledger, entry)
        return n

    if with_ticks:

        @runner.task(name="ledger.tick", schedule=every(seconds=1))
        async def tick() -> None:
            await runner.state.ledger.rpush(f"{ledger}:ticks", current_job().key or "")

    return runner


runner = make_runner(os.environ.get("TASKRUNNER_URL"), os.environ.get("WITH_TICKS") == "1")
