"""A clock that a test moves: `Clock`, and how the helpers find it behind a runner.

The memory backend judges every time on the clock it is given (`MemoryBackend(clock=...)`):
due times, retries' backoff, leases, the retention of finished records, dedup windows, rate
windows, and through `Backend.now()` the ticks of recurring schedules. Given a `Clock`, all
of these follow it, and nothing else moves it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from taskrunner.errors import ConfigurationError
from taskrunner.retry import MAX_SECONDS
from taskrunner.runner import TaskRunner


class Clock:
    """Seconds since the epoch, like `time.time`, that move only when told to.

    `Clock()` starts at the current time (whole seconds), so that times the code under
    test works out from `datetime.now()` land where they would; `Clock(datetime(...))`
    (aware) or `Clock(1_700_000_000)` starts at that moment. Call it to read it.

    `jump` and `jump_to` move it at once, with nothing run in between: for taskrunner, as if
    every worker had been down meanwhile (a recurring task catches up once, not once per
    missed tick). To let time pass with a worker running, use `advance(runner, ...)`.
    """

    def __init__(self, start: datetime | float | None = None) -> None:
        self._now = float(math.floor(time.time())) if start is None else _epoch(start)

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"Clock({self.now.isoformat()})"

    @property
    def now(self) -> datetime:
        """The clock's time as an aware datetime, in UTC."""
        return datetime.fromtimestamp(self._now, UTC)

    def jump(
        self,
        seconds: float | timedelta = 0,
        *,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
    ) -> None:
        """Move the clock forward by the sum of the given durations, at once."""
        self._now += duration(seconds, minutes=minutes, hours=hours, days=days)

    def jump_to(self, moment: datetime | float) -> None:
        """Move the clock forward to `moment` (an aware datetime or epoch seconds), at once.
        A clock never goes back: make one that starts where the test needs it instead."""
        target = _epoch(moment)
        if target < self._now:
            raise ConfigurationError(
                f"a Clock only moves forward: {moment!r} is before {self.now.isoformat()}; "
                "start the clock there instead (Clock(start))"
            )
        self._now = target


def duration(
    seconds: float | timedelta = 0, *, minutes: float = 0, hours: float = 0, days: float = 0
) -> float:
    """The sum of the given durations in seconds: finite, not negative, at most ten years."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    parts = {"seconds": seconds, "minutes": minutes, "hours": hours, "days": days}
    for name, value in parts.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"{name} must be a number, got {value!r}")
    total = seconds + 60 * minutes + 3600 * hours + 86400 * days
    if not 0 <= total <= MAX_SECONDS:  # NaN fails too
        raise ConfigurationError(
            f"time moves forward by 0 to {MAX_SECONDS:.0f} seconds (ten years), not {total!r}"
        )
    return float(total)


def _epoch(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ConfigurationError(f"give the clock an aware datetime, not {moment!r}")
        return moment.timestamp()
    if isinstance(moment, bool) or not isinstance(moment, int | float) or not math.isfinite(moment):
        raise ConfigurationError(f"a moment is an aware datetime or epoch seconds: {moment!r}")
    return float(moment)


@runtime_checkable
class ClockedBackend(Protocol):
    """A backend whose clock a test can read and step through: the memory backend.

    `clock` is the clock it judges time on; `next_change()` answers the earliest moment at
    which something falls due with nobody acting (a scheduled job, a rate window opening, a
    lease running out), or None."""

    @property
    def clock(self) -> Callable[[], float]: ...

    async def next_change(self) -> float | None: ...


def clock_of(runner: TaskRunner) -> tuple[Clock, ClockedBackend]:
    """The `Clock` that `runner`'s backend judges time on, and that backend; a
    `ConfigurationError` saying how to set one up if there is none."""
    backend = runner.backend
    if isinstance(backend, ClockedBackend) and isinstance(backend.clock, Clock):
        return backend.clock, backend
    raise ConfigurationError(
        f"{runner!r} is not on a Clock: moving time needs the memory backend on a "
        "taskrunner.testing.Clock (MemoryBackend(clock=Clock()), memory_harness(runner), "
        "or the taskrunner_harness fixture)"
    )
