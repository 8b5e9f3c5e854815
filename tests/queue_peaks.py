"""A worker with a limit per queue, checked on any backend: the peaks of running jobs."""

from __future__ import annotations

import random
from collections import Counter

import anyio

from taskrunner import TaskRunner


async def check_queue_peaks(runner: TaskRunner, jobs_per_queue: int = 30) -> None:
    """Many jobs on two queues limited to 2 and 3 under a total of 4: no peak goes above."""
    running: Counter[str] = Counter()
    peaks: Counter[str] = Counter()
    total_peak = 0

    async def hold(queue: str) -> None:
        nonlocal total_peak
        running[queue] += 1
        peaks[queue] = max(peaks[queue], running[queue])
        total_peak = max(total_peak, running.total())
        await anyio.sleep(random.uniform(0, 0.01))
        running[queue] -= 1

    @runner.task(queue="emails")
    async def send(n: int) -> None:
        await hold("emails")

    @runner.task(queue="feeds")
    async def fetch(n: int) -> None:
        await hold("feeds")

    prepared = [send.prepare(n) for n in range(jobs_per_queue)]
    prepared += [fetch.prepare(n) for n in range(jobs_per_queue)]
    jobs = await runner.enqueue_many(prepared)
    async with runner.worker(queues={"emails": 2, "feeds": 3}, concurrency=4):
        for job in jobs:
            await job.result(timeout=30)
    assert peaks["emails"] <= 2
    assert peaks["feeds"] <= 3
    assert total_peak <= 4
    assert peaks["emails"] >= 1 and peaks["feeds"] >= 1
