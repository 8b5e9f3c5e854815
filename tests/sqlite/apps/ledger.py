"""Tasks that record their attempts in the ledger (see the package docstring)."""

from __future__ import annotations

import asyncio

from tests.sqlite.apps import ledger_runner, record_attempt

runner = ledger_runner()


@runner.task(name="record")
async def record(n: int) -> int:
    await record_attempt()
    return n


@runner.task(name="slow", retries=1)
async def slow(seconds: float) -> str:
    """Sleep, then record: a job a test can interrupt."""
    await asyncio.sleep(seconds)
    await record_attempt()
    return "slept"
