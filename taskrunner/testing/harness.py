"""A runner on a fresh memory backend and a `Clock`, with the test helpers bound to both
(`Harness`, made by `memory_harness`; the pytest plugin's fixtures hand one out)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

from taskrunner.job import JobInfo
from taskrunner.memory import MemoryBackend
from taskrunner.runner import TaskRunner
from taskrunner.task import Task
from taskrunner.testing import assertions
from taskrunner.testing.clock import Clock
from taskrunner.testing.drain import DEFAULT_LIMIT, advance, drain
from taskrunner.testing.eager import eager
from taskrunner.testing.report import DrainReport


@asynccontextmanager
async def memory_harness(
    runner: TaskRunner | None = None, *, clock: Clock | None = None
) -> AsyncIterator[Harness]:
    """`async with memory_harness(app_runner) as harness: ...`: for the block, `runner` (a
    new `TaskRunner` if None) works on a fresh memory backend judging time on `clock` (a
    new `Clock` if None). Afterwards the runner is closed and gets its previous backend
    back, so an app's module-level runner serves test after test. The runner must not be
    connected when the block starts."""
    runner = TaskRunner("memory://") if runner is None else runner
    clock = Clock() if clock is None else clock
    before = (runner.backend, runner.url, runner._owns_backend)
    runner.use_url("memory://")  # refuses a connected runner
    runner.backend = MemoryBackend(clock=clock)
    try:
        yield Harness(runner, clock)
    finally:
        await runner.close()
        runner.backend, runner.url, runner._owns_backend = before


class Harness:
    """A runner and the `Clock` its memory backend judges time on, with the helpers of
    `taskrunner.testing` bound to them: `await harness.advance(hours=3)` is
    `await advance(harness.runner, hours=3)`."""

    def __init__(self, runner: TaskRunner, clock: Clock) -> None:
        self.runner = runner
        self.clock = clock

    def __repr__(self) -> str:
        return f"<Harness {self.runner!r} at {self.clock.now.isoformat()}>"

    async def drain(
        self, *, advance_clock: bool = False, limit: int | None = DEFAULT_LIMIT, **settings: Any
    ) -> DrainReport:
        """See `taskrunner.testing.drain`."""
        return await drain(self.runner, advance_clock=advance_clock, limit=limit, **settings)

    async def advance(
        self,
        seconds: float | timedelta = 0,
        *,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
        limit: int | None = DEFAULT_LIMIT,
        **settings: Any,
    ) -> DrainReport:
        """See `taskrunner.testing.advance`."""
        return await advance(
            self.runner, seconds, minutes=minutes, hours=hours, days=days, limit=limit, **settings
        )

    def eager(
        self, *, propagate: bool = True, limit: int | None = DEFAULT_LIMIT
    ) -> AbstractAsyncContextManager[TaskRunner]:
        """See `taskrunner.testing.eager`."""
        return eager(self.runner, propagate=propagate, limit=limit)

    async def enqueued(self, task: Task[..., Any] | str | None = None) -> list[JobInfo]:
        """See `taskrunner.testing.enqueued`."""
        return await assertions.enqueued(self.runner, task)

    async def assert_enqueued(
        self, task: Task[..., Any] | str, /, *args: Any, **kwargs: Any
    ) -> JobInfo:
        """See `taskrunner.testing.assert_enqueued`."""
        return await assertions.assert_enqueued(self.runner, task, *args, **kwargs)

    async def assert_not_enqueued(self, task: Task[..., Any] | str) -> None:
        """See `taskrunner.testing.assert_not_enqueued`."""
        await assertions.assert_not_enqueued(self.runner, task)

    async def assert_no_failures(self) -> None:
        """See `taskrunner.testing.assert_no_failures`."""
        await assertions.assert_no_failures(self.runner)

    async def assert_nothing_queued(self) -> None:
        """See `taskrunner.testing.assert_nothing_queued`."""
        await assertions.assert_nothing_queued(self.runner)
