"""A web-like producer process: enqueues `record` jobs one awaited enqueue at a time, as
request handlers would, on the SQLite file of TASKRUNNER_URL.

    python -m tests.sqlite.apps.producer FIRST COUNT
"""

from __future__ import annotations

import asyncio
import sys

from tests.sqlite.apps.ledger import record, runner


async def produce(first: int, count: int) -> None:
    async with runner:
        for n in range(first, first + count):
            await record.enqueue(n)


if __name__ == "__main__":
    asyncio.run(produce(int(sys.argv[1]), int(sys.argv[2])))
