"""A worker that runs many jobs, a tenth of them failing, through a backend outage keeps a
flat memory footprint and ends with its internal maps empty.

Quick by default (CI). The long run: LONG_RUN_JOBS=500000 LONG_RUN_OUTAGE=60.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from taskrunner import JobState, TaskRunner, TaskrunnerError
from tests.helpers import eventually
from tests.redis.server import RedisServer

pytestmark = pytest.mark.slow


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


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

    samples: list[float] = []
    try:
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
            samples.append(rss_mib())
            server.stop()  # the outage: every claim, heartbeat and report fails
            await anyio.sleep(outage)
            server.start()
            await eventually(all_done, timeout=patience)
            samples.append(rss_mib())
            await eventually(lambda: not worker._outbox.unreported)  # the maps empty out
            assert worker.running == 0
            assert worker._running == {}
        stats = (await runner.stats())["default"]
        assert stats[JobState.QUEUED] == stats[JobState.RUNNING] == 0
        assert stats[JobState.FAILED] == total // 10
        assert stats[JobState.SUCCEEDED] == total - total // 10
    finally:
        await runner.close()
        server.stop()
    growth = samples[-1] - samples[0]
    assert growth < 25, f"RSS grew {growth:.1f} MiB from a quarter to the end: {samples}"
