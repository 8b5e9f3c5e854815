"""A worker that runs many jobs, a tenth of them failing, through a backend outage keeps a
flat memory footprint and ends with its internal maps empty.

The footprint is what the process's Python code still holds at the end of what it allocated
from a quarter of the jobs on (tracemalloc, traced from there, after a collection). The RSS
of a test process also moves with the tests it ran before and with the allocator keeping
freed memory, and pytest keeps every log record of a test: taskrunner's logs are written
but kept from pytest's capture while the test runs.

Quick by default (CI). The long run: LONG_RUN_JOBS=500000 LONG_RUN_OUTAGE=60.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from taskrunner import JobState, TaskRunner, TaskrunnerError
from tests.helpers import eventually
from tests.redis.server import RedisServer

pytestmark = pytest.mark.slow


# Held legitimately: the ids the backend remembers the queue of (taskrunner_redis.locate,
# 10,000 at the most, about 2 MiB); the rest measured under 0.1 MiB. A leak of 60 bytes a
# job over the 22,500 jobs of the quick run from its quarter on crosses the limit.
HELD_LIMIT_MIB = 3.0


@contextlib.contextmanager
def unheard(name: str) -> Iterator[None]:
    """Logs of `name` are formatted and handled, but not passed on to the root logger,
    where pytest keeps every record."""
    logger = logging.getLogger(name)
    handler = logging.NullHandler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.propagate = True
        logger.removeHandler(handler)


def start_tracing() -> None:
    gc.collect()
    tracemalloc.start()


def held_since_start() -> tuple[float, str]:
    """MiB allocated since start_tracing() and still held after a collection, and where
    the most of it was allocated; stops tracing."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    top = snapshot.statistics("lineno")[:10]
    held = sum(stat.size for stat in snapshot.statistics("filename")) / 2**20
    return held, "\n".join(str(stat) for stat in top)


async def test_memory_stays_flat_through_many_jobs_and_an_outage(tmp_path: Path) -> None:
    total = int(os.environ.get("LONG_RUN_JOBS", "30000"))
    outage = float(os.environ.get("LONG_RUN_OUTAGE", "2"))
    server = RedisServer(tmp_path)
    server.start()
    runner = TaskRunner(f"{server.url}?prefix=longrun")

    @runner.task(name="longrun.work", retries=0)
    async def work(n: int) -> int:
        if n % 10 == 0:
            raise ValueError(f"job {n} fails, as every tenth does")
        return n

    held, where = 0.0, ""
    try:
        with unheard("taskrunner"):
            for start in range(0, total, 5000):
                await runner.enqueue_many(
                    work.prepare(i) for i in range(start, min(start + 5000, total))
                )
            async with runner.worker(concurrency=50, lease=5) as worker:

                async def finished() -> int:
                    try:
                        stats = (await runner.stats())["default"]
                    except TaskrunnerError:  # the backend is down
                        return 0
                    return stats[JobState.SUCCEEDED] + stats[JobState.FAILED]

                patience = 120 + total / 500 + outage

                async def a_quarter_done() -> bool:
                    return await finished() >= total // 4

                async def all_done() -> bool:
                    return await finished() >= total

                await eventually(a_quarter_done, timeout=patience)
                start_tracing()
                server.stop()  # the outage: every claim, heartbeat and report fails
                await anyio.sleep(outage)
                server.start()
                await eventually(all_done, timeout=patience)
                await eventually(lambda: not worker._outbox.unreported)  # the maps empty out
                assert worker.running == 0
                assert worker._running == {}
                held, where = held_since_start()
            stats = (await runner.stats())["default"]
            assert stats[JobState.QUEUED] == stats[JobState.RUNNING] == 0
            assert stats[JobState.FAILED] == total // 10
            assert stats[JobState.SUCCEEDED] == total - total // 10
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        await runner.close()
        server.stop()
    assert held < HELD_LIMIT_MIB, f"{held:.1f} MiB allocated since a quarter still held:\n{where}"
