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


_ALL_HOURS = frozenset(range(24))


@dataclass(frozen=True, slots=True)
class Cron:
    """A tick at each time a five-field cron expression matches, in the time zone `tz`.

    Daylight-saving changes follow Vixie cron's split between fixed-time and wildcard jobs,
    judged on the hour field alone (see `docs/scheduling.md`): an expression whose hour
    field matches every hour is *hourly*, any other is *fixed-hour*. Wall-clock times that
    happen twice tick in both passes for hourly expressions and in the first pass only for
    fixed-hour ones; skipped wall-clock times tick once at the jump for fixed-hour
    expressions and not at all for hourly ones.
    """

    expression: str
    tz: str = "UTC"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _hourly: bool = field(init=False, repr=False, compare=False)

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
            parsed = CronSim(self.expression, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise ConfigurationError(
                f"invalid cron expression {self.expression!r}: {exc}; expected five fields: "
                "minute hour day-of-month month day-of-week, e.g. '0 9 * * mon'"
            ) from exc
        object.__setattr__(self, "_hourly", parsed.hours == _ALL_HOURS)

    @property
    def hourly(self) -> bool:
        """Whether the hour field matches every hour (`*`, `*/1`, `0-23`): such expressions
        tick in both passes of a repeated hour and skip the wall-clock times that do not
        exist. Any other expression is fixed-hour (see the class docstring)."""
        return self._hourly

    def next_after(self, instant: float) -> float:
        # Wall-clock matches are walked in local order, but a repeated hour makes local order
        # and real order differ; so start early enough and keep looking until no later
        # wall-clock time can give an earlier instant.
        start = datetime.fromtimestamp(instant, UTC).replace(tzinfo=None)
        first_wall = start + self._offset_range(instant)[0] - timedelta(seconds=1)
        best: float | None = None
        for wall in CronSim(self.expression, first_wall.replace(microsecond=0)):
            if best is not None and wall >= self._last_useful_wall(best):
                return best
            tick = min((t for t in self._instants_of(wall) if t > instant), default=None)
            if tick is not None and (best is None or tick < best):
                best = tick
        if best is not None:
            return best
        raise ConfigurationError(f"cron expression {self.expression!r} never matches")

    def _instants_of(self, wall: datetime) -> list[float]:
        """The ticks a matching wall-clock time gives (none, one or two)."""
        if not self._exists(wall):
            return [] if self._hourly else [self._end_of_gap(wall)]
        first = wall.replace(tzinfo=self._zone, fold=0)
        second = wall.replace(tzinfo=self._zone, fold=1)
        if first.utcoffset() != second.utcoffset() and self._hourly:
            return [first.timestamp(), second.timestamp()]
        return [first.timestamp()]

    def _end_of_gap(self, wall: datetime) -> float:
        """The instant the clocks jump over `wall`, a wall-clock time that does not exist:
        the first wall-clock minute after it that exists."""
        while not self._exists(wall):
            wall += timedelta(minutes=1)
        return wall.replace(tzinfo=self._zone).timestamp()

    def _exists(self, wall: datetime) -> bool:
        """Whether the clocks of the zone ever read `wall` (false in a spring-forward gap)."""
        aware = wall.replace(tzinfo=self._zone)
        return aware.astimezone(UTC).astimezone(self._zone).replace(tzinfo=None) == wall

    def _last_useful_wall(self, tick: float) -> datetime:
        """The wall-clock time from which no match can tick before `tick`: its own local time,
        later by the UTC offset still to be lost around it (non-zero near a repeated hour)."""
        when = datetime.fromtimestamp(tick, self._zone)
        offset = when.utcoffset() or timedelta()
        return when.replace(tzinfo=None) + self._offset_range(tick)[1] - offset

    def _offset_range(self, instant: float) -> tuple[timedelta, timedelta]:
        """The smallest and largest UTC offsets of the zone within a day of `instant`."""
        offsets = [
            datetime.fromtimestamp(instant + shift, self._zone).utcoffset() or timedelta()
            for shift in (-86400, 0, 86400)
        ]
        return min(offsets), max(offsets)

    def describe(self) -> str:
        return f"cron {self.expression!r} ({self.tz})"


def cron(expression: str, tz: str = "UTC") -> Cron:
    """A schedule from a cron expression, e.g. `cron("0 9 * * mon", tz="Europe/Paris")`.

    On daylight-saving changes a fixed-hour expression (`30 2 * * *`) runs once in a repeated
    hour and once at the jump over a skipped one; an hourly expression (hour field `*`) runs
    in both passes of a repeated hour and skips the times that do not exist.
    """
    if not isinstance(expression, str):
        raise ConfigurationError(f"cron expression must be a string, got {expression!r}")
    return Cron(expression.strip(), tz)
