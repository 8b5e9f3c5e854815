"""The ledger app with limits and rates: each run writes its key and its wall-clock start and
end to the ledger (see `tests/chaos/apps/ledger.py`), for the process tests of limits.

Environment: as the ledger app's.
"""

from __future__ import annotations

import asyncio
import os

from taskrunner import Limit, Rate, TaskRunner
from tests.chaos.apps.ledger import attach_ledger, ledger_entry

PAIRS = Limit(2, key="pair:{n}")
SOLO = Limit(1, key="solo:{n}")
API = Rate(20, per=1.0, key="api")


def make_runner(url: str | None = None) -> TaskRunner:
    runner = TaskRunner(url)
    attach_ledger(runner)

    @runner.task(name="limited.pair", limit=PAIRS, retries=0)
    async def pair(n: int, sleep: float) -> None:
        async with ledger_entry(runner, f"pair:{n}"):
            await asyncio.sleep(sleep)

    @runner.task(name="limited.solo", limit=SOLO, retries=2)
    async def solo(n: int, sleep: float) -> None:
        async with ledger_entry(runner, f"solo:{n}"):
            await asyncio.sleep(sleep)

    @runner.task(name="limited.api", rate=API, retries=0)
    async def api(n: int) -> None:
        async with ledger_entry(runner, "api"):
            pass

    return runner


runner = make_runner(os.environ.get("TASKRUNNER_URL"))
