"""Recurring tasks: one job per tick however many workers run, one catch-up after downtime."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

from taskrunner import ConfigurationError, JobInfo, JobState, TaskRunner, current_job, every
from taskrunner.memory import MemoryBackend
from taskrunner.testing import Clock, enqueued
from taskrunner.worker.scheduler import enqueue_next_ticks, tick_key
from tests.helpers import eventually


def make_runner(backend: MemoryBackend, runs: list[tuple[str, float]]) -> TaskRunner:
    """One 'process': its own runner, registering the same task, on the shared backend."""
    runner = TaskRunner("memory://", backend=backend)

    @runner.task(name="app.heartbeat", schedule=every(seconds=1))
    async def heartbeat() -> None:
        info = await runner.get_job(current_job().id)
        runs.append((info.id, info.run_at.timestamp()))

    return runner


async def test_each_tick_runs_exactly_once_with_several_workers() -> None:
    backend = MemoryBackend()
    runs: list[tuple[str, float]] = []
    runners = [make_runner(backend, runs) for _ in range(3)]
    async with runners[0].worker(), runners[1].worker(), runners[2].worker():
        await eventually(lambda: len(runs) >= 3)
    job_ids = Counter(job_id for job_id, _ in runs)
    ticks = Counter(tick for _, tick in runs)
    assert all(count == 1 for count in job_ids.values()), runs
    assert all(count == 1 for count in ticks.values()), runs
    assert all(tick == int(tick) for tick in ticks)  # on the one-second grid
    assert sorted(ticks) == [min(ticks) + i for i in range(len(ticks))]  # no tick skipped


async def test_after_downtime_the_pending_tick_runs_once() -> None:
    clock = Clock()  # hours pass without sleeping
    runner = TaskRunner("memory://", backend=MemoryBackend(clock=clock))
    runs: list[int] = []

    @runner.task(schedule=every(hours=1))
    async def hourly() -> None:
        runs.append(1)

    async def scheduled() -> list[JobInfo]:
        return [job for job in await enqueued(runner) if job.state is JobState.SCHEDULED]

    async with runner.worker():  # the real scheduler, in a worker that is not a burst one
        await eventually(scheduled)
    assert runs == []

    clock.jump(hours=10)  # ten ticks missed while no worker ran
    async with runner.worker():
        await eventually(lambda: len(runs) == 1)
        await eventually(scheduled)
        await anyio.sleep(0.1)  # a second run would have happened by now
    assert runs == [1]
    (pending,) = await scheduled()
    assert pending.run_at.timestamp() == every(hours=1).next_after(clock())
    assert pending.key == tick_key(hourly.name, pending.run_at.timestamp())


async def test_enqueueing_a_tick_twice_keeps_one_job() -> None:
    now = [1_700_000_000.5]
    backend = MemoryBackend(clock=lambda: now[0])
    runner = TaskRunner("memory://", backend=backend)

    @runner.task(schedule=every(minutes=5))
    async def report() -> None:
        return None

    for _ in range(3):
        wait = await enqueue_next_ticks(runner, [report])
        assert wait == pytest.approx(every(minutes=5).next_after(now[0]) - now[0])
    assert len(backend._store.jobs) == 1


def test_recurring_task_validation() -> None:
    runner = TaskRunner("memory://")
    with pytest.raises(ConfigurationError, match="called without arguments"):

        @runner.task(schedule=every(minutes=1))
        async def needs_args(user_id: int) -> None:
            return None

    with pytest.raises(ConfigurationError, match="result_ttl"):

        @runner.task(schedule=every(minutes=1), result_ttl=1)
        async def forgets_too_soon() -> None:
            return None

    @runner.task(schedule=every(minutes=1))
    async def defaults_are_fine(limit: int = 10) -> None:
        return None
