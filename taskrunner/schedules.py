"""Recurring schedules declared in code: `every(...)` and `cron(...)`.

A schedule only answers "when is the first tick strictly after this instant". Ticks are
instants shared by every worker (an `every` grid is anchored at the Unix epoch), so each
tick has one deterministic dedup key however many workers compute it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from taskrunner.errors import ConfigurationError
from taskrunner.retry import MAX_SECONDS


class Schedule(Protocol):
    """When a recurring task's ticks fall."""

    def next_after(self, instant: float) -> float:
        """The first tick strictly after `instant` (epoch seconds)."""
        ...

    def describe(self) -> str:
        """A short human description, e.g. for logs and the dashboard."""
        ...


@dataclass(frozen=True, slots=True)
class Every:
    """A tick every `interval` seconds, on a grid anchored at the Unix epoch."""

    interval: float

    def next_after(self, instant: float) -> float:
        interval = self.interval
        # grid points are n * interval; the division may round either way, so look at the
        # neighbours for the first point strictly after `instant`
        n = math.floor(instant / interval)
        return next(k * interval for k in range(n - 1, n + 3) if k * interval > instant)

    def describe(self) -> str:
        return f"every {timedelta(seconds=self.interval)}"


def every(*, seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0) -> Every:
    """A schedule ticking at a fixed interval, e.g. `every(minutes=5)`.

    Ticks fall on multiples of the interval since the Unix epoch (UTC), so `every(hours=1)`
    ticks on the hour.
    """
    parts = {"seconds": seconds, "minutes": minutes, "hours": hours, "days": days}
    for name, value in parts.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigurationError(f"every({name}=...) must be a finite number, got {value!r}")
    try:
        interval = timedelta(**parts)
    except OverflowError:
        raise ConfigurationError(f"every(...) interval is too large: {parts}") from None
    total = interval.total_seconds()
    if not 1 <= total <= MAX_SECONDS:
        raise ConfigurationError(
            f"every(...) needs an interval of at least 1 second and at most ten years "
            f"({MAX_SECONDS}s), got {total}s"
        )
    return Every(total)


@dataclass(frozen=True, slots=True)
class Cron:
    """A tick at each time a five-field cron expression matches, in the time zone `tz`.

    Across daylight-saving changes a time that is skipped runs once at the jump, and a time
    that happens twice runs once (hourly or finer expressions run in both hours).
    """

    expression: str
    tz: str = "UTC"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.tz, str):
            raise ConfigurationError(f"tz must be an IANA time zone name, got {self.tz!r}")
        fields = self.expression.split()
        if len(fields) != 5:
            raise ConfigurationError(
                f"invalid cron expression {self.expression!r}: it has {len(fields)} fields; "
                "expected five fields: minute hour day-of-month month day-of-week, "
                "e.g. '0 9 * * mon'"
            )
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"unknown time zone {self.tz!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
            ) from exc
        object.__setattr__(self, "_zone", zone)
        try:
            CronSim(self.expression, datetime.now(zone))
        except CronSimError as exc:
            raise ConfigurationError(
                f"invalid cron expression {self.expression!r}: {exc}; expected five fields: "
                "minute hour day-of-month month day-of-week, e.g. '0 9 * * mon'"
            ) from exc

    def next_after(self, instant: float) -> float:
        start = datetime.fromtimestamp(instant, UTC).astimezone(self._zone)
        for tick in CronSim(self.expression, start):
            if tick.timestamp() > instant:
                return tick.timestamp()
        raise ConfigurationError(f"cron expression {self.expression!r} never matches")

    def describe(self) -> str:
        return f"cron {self.expression!r} ({self.tz})"


def cron(expression: str, tz: str = "UTC") -> Cron:
    """A schedule from a cron expression, e.g. `cron("0 9 * * mon", tz="Europe/Paris")`."""
    if not isinstance(expression, str):
        raise ConfigurationError(f"cron expression must be a string, got {expression!r}")
    return Cron(expression.strip(), tz)
