"""When a job runs again: `Retry` and `Snooze` from inside a task, and backoff policies."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from taskrunner.errors import ConfigurationError

MAX_SECONDS = 10 * 365 * 24 * 3600  # the longest delay, backoff or wait for a due time taken
_YEAR = 365.25 * 24 * 3600


class Retry(Exception):
    """Raise inside a task to ask for another attempt after `delay` seconds.

    The attempt counts against the task's `retries`; without a delay the task's backoff
    decides.
    """

    def __init__(self, delay: float | timedelta | None = None, reason: str = "") -> None:
        self.delay = None if delay is None else seconds(delay, "Retry(delay=...)")
        self.reason = reason
        super().__init__(reason or "retry requested")


class Snooze(Exception):
    """Raise inside a task to put its job back for `delay` seconds (or a timedelta) without
    using an attempt: an API that is not ready yet, a limit the task itself detects.

    The job is `scheduled` meanwhile; its history shows the attempt as `released`, with the
    reason "snoozed for ...". A job may snooze any number of times.
    """

    def __init__(self, delay: float | timedelta) -> None:
        self.delay = seconds(delay, "Snooze(delay)")
        super().__init__(f"snoozed for {self.delay:g}s")


def seconds(value: float | timedelta, what: str) -> float:
    """A non-negative number of seconds from a number or a timedelta."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{what} must be seconds or a timedelta, got {value!r}")
    if value < 0 or value != value:
        raise ConfigurationError(f"{what} must not be negative, got {value!r}")
    if value > MAX_SECONDS:
        raise ConfigurationError(
            f"{what} must be at most {MAX_SECONDS} seconds (ten years), got {value!r}"
        )
    return float(value)


def due_at(at: datetime, what: str) -> float:
    """Epoch seconds of an aware datetime no more than ten years (`MAX_SECONDS`) ahead."""
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ConfigurationError(
            f"{what} must be a timezone-aware datetime (e.g. datetime.now(UTC)), got {at!r}"
        )
    moment = at.timestamp()
    ahead = moment - time.time()
    if ahead > MAX_SECONDS:
        raise ConfigurationError(
            f"{what} {at.isoformat()} is {ahead / _YEAR:.0f} years ahead; a job may be due "
            "at most ten years from now"
        )
    return moment


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: `base * factor ** (attempt - 1)`, capped at `max_delay` (and at
    ten years, `MAX_SECONDS`).

    With `jitter` the delay is drawn uniformly from its upper half, so failures that happened
    together do not retry together.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if not (self.base >= 0 and self.factor >= 1 and self.max_delay >= 0):  # NaN too
            raise ConfigurationError(
                "Backoff needs base >= 0, factor >= 1 and max_delay >= 0, got "
                f"base={self.base}, factor={self.factor}, max_delay={self.max_delay}"
            )

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first)."""
        exponent = min(attempt - 1, 64)
        delay = min(self.max_delay, MAX_SECONDS, self.base * self.factor**exponent)
        if self.jitter:
            delay = delay / 2 + rand() * delay / 2
        return delay


def fixed(delay: float | timedelta) -> Backoff:
    """The same wait after every failed attempt."""
    return Backoff(
        base=seconds(delay, "fixed(delay)"), factor=1.0, max_delay=float("inf"), jitter=False
    )


BackoffLike = Backoff | float | int | timedelta | Callable[[int], float]


def as_backoff(value: BackoffLike) -> Callable[[int], float]:
    """Normalize a task's `backoff=` option to a function from attempt to seconds."""
    if isinstance(value, Backoff):
        return value.delay
    if isinstance(value, int | float | timedelta) and not isinstance(value, bool):
        return fixed(value).delay
    if callable(value):
        return value
    raise ConfigurationError(
        f"backoff must be a Backoff, a number of seconds, a timedelta or a function of the "
        f"attempt number, got {value!r}"
    )


DEFAULT_BACKOFF = Backoff()
