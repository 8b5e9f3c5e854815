"""taskrunner.testing.Clock, and what the memory backend tells of the next moment to step to."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from taskrunner import ConfigurationError, Rate, TaskRunner
from taskrunner.memory import MemoryBackend
from taskrunner.testing import Clock, ClockedBackend, advance, memory_harness
from taskrunner.testing.clock import clock_of
from taskrunner.testing.conformance.helpers import new_job

NEW_YEAR = datetime(2030, 1, 1, tzinfo=UTC)


def test_a_clock_starts_now_in_whole_seconds_and_stays_there() -> None:
    before = time.time()
    clock = Clock()
    assert before - 1 < clock() <= time.time()
    assert clock() == int(clock())
    assert clock() == clock()  # nothing moves it but the test
    assert clock.now == datetime.fromtimestamp(clock(), UTC)


def test_a_clock_starts_where_told_and_moves_forward_only() -> None:
    clock = Clock(NEW_YEAR)
    assert clock() == NEW_YEAR.timestamp()
    assert repr(clock) == "Clock(2030-01-01T00:00:00+00:00)"
    clock.jump(90)
    clock.jump(timedelta(minutes=1), minutes=1, hours=1, days=1)
    assert clock.now == NEW_YEAR + timedelta(days=1, hours=1, minutes=3, seconds=30)
    clock.jump_to(NEW_YEAR + timedelta(days=2))
    clock.jump_to(clock())  # staying put is fine
    assert Clock(1_700_000_000)() == 1_700_000_000.0
    with pytest.raises(ConfigurationError, match="only moves forward"):
        clock.jump_to(NEW_YEAR)
    with pytest.raises(ConfigurationError, match="moves forward by 0"):
        clock.jump(-1)
    with pytest.raises(ConfigurationError, match="moves forward by 0"):
        clock.jump(float("nan"))
    with pytest.raises(ConfigurationError, match="must be a number"):
        clock.jump(hours="1")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="aware datetime"):
        Clock(datetime(2030, 1, 1))
    with pytest.raises(ConfigurationError, match="aware datetime or epoch seconds"):
        Clock(float("inf"))


async def test_the_memory_backend_says_when_something_falls_due_next() -> None:
    clock = Clock(NEW_YEAR)
    backend = MemoryBackend(clock=clock)
    assert isinstance(backend, ClockedBackend) and backend.clock is clock
    assert await backend.next_change() is None
    now = clock()
    await backend.enqueue([new_job(delay=60), new_job(delay=600)])
    assert await backend.next_change() == now + 60
    await backend.enqueue([new_job()])
    (claimed,) = await backend.claim(["default"], 1, "w", lease=30)
    assert await backend.next_change() == now + 30  # the lease runs out first
    clock.jump(30)
    assert await backend.reclaim() == [claimed.id]
    assert await backend.next_change() == now + 60


async def test_a_rate_window_that_holds_jobs_back_is_a_moment_to_step_to() -> None:
    clock = Clock(NEW_YEAR)
    backend = MemoryBackend(clock=clock)
    rated = [new_job(rate_key="api", rate_max=1, rate_per=10.0) for _ in range(2)]
    await backend.enqueue(rated)
    assert len(await backend.claim(["default"], 2, "w", lease=300)) == 1  # one held back
    assert await backend.next_change() == clock() + 10


async def test_moving_time_needs_a_runner_on_a_clock() -> None:
    runner = TaskRunner("memory://")
    with pytest.raises(ConfigurationError, match="not on a Clock"):
        await advance(runner, hours=1)
    async with memory_harness(runner) as harness:
        clock, backend = clock_of(runner)
        assert clock is harness.clock and isinstance(backend, MemoryBackend)


async def test_the_harness_gives_an_app_runner_its_backend_back() -> None:
    given = MemoryBackend()
    runner = TaskRunner(backend=given)

    @runner.task(rate=Rate(1, per=1.0))
    async def task() -> None:
        return None

    async with memory_harness(runner, clock=Clock(NEW_YEAR)) as harness:
        assert runner.backend is not given and harness.runner is runner
        job = await task.enqueue()
        assert (await job.info()).enqueued_at == NEW_YEAR
    assert runner.backend is given
    assert await runner.get_jobs([job.id]) == [None]  # the test's job stayed behind
    await runner.close()
    async with runner:
        with pytest.raises(ConfigurationError, match="before the runner connects"):
            async with memory_harness(runner):
                pass
