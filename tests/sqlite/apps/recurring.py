"""A task that runs every second and records each run in the ledger."""

from __future__ import annotations

from taskrunner import every
from tests.sqlite.apps import ledger_runner, record_attempt

runner = ledger_runner()


@runner.task(name="tick", schedule=every(seconds=1))
async def tick() -> None:
    await record_attempt()
