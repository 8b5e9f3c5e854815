"""The worker's policy, as pure functions: whether a failed attempt runs again and when, how
many attempts a job gets, and how long a finished job's record is kept.

The core decides all of this; a backend only applies the outcomes it is given. The functions
take plain values (a task's settings, the runner's defaults) so that they are tested alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from taskrunner.job import message_of
from taskrunner.retry import DEFAULT_BACKOFF, MAX_SECONDS, Retry

DEFAULT_RESULT_TTL = 24 * 3600.0  # a succeeded or cancelled job's record, unless told
DEFAULT_FAILED_TTL = 7 * 24 * 3600.0  # a failed job's record, unless told

# A recurring task's tick job holds its dedup key while its record is kept; a minute is far
# longer than any gap between a scheduler reading the clock and its enqueue landing.
MIN_SCHEDULED_RESULT_TTL = 60.0


def max_attempts(retries: int) -> int:
    """The attempts a job gets: the first, and `retries` more."""
    return retries + 1


def out_of_attempts(attempt: int, max_attempts: int) -> bool:
    """Whether a failure of attempt number `attempt` is the job's last."""
    return attempt >= max_attempts


def past_last_attempt(attempt: int, max_attempts: int) -> bool:
    """Whether a claimed attempt is beyond the job's attempts (its previous attempt's worker
    died with the last one): it fails without running."""
    return attempt > max_attempts


def result_ttl(task_ttl: float | None, scheduled: bool, default: float | None) -> float | None:
    """How long a succeeded or cancelled job's record is kept: the task's own `result_ttl`,
    else the runner's; a recurring task's at least `MIN_SCHEDULED_RESULT_TTL` (None: kept)."""
    ttl = default if task_ttl is None else task_ttl
    if scheduled and ttl is not None:
        ttl = max(ttl, MIN_SCHEDULED_RESULT_TTL)
    return ttl


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What follows a failed attempt: another attempt after `delay` seconds (`retry`), or
    none. `problem` says how the task's backoff misbehaved, if it did (then the default
    backoff's delay was taken)."""

    retry: bool
    delay: float = 0.0
    problem: str | None = None


GIVE_UP = RetryDecision(retry=False)


def backoff_delay(backoff: Callable[[int], float], attempt: int) -> tuple[float, str | None]:
    """The backoff's delay after attempt `attempt`, and None; or, when the backoff raises or
    answers something other than seconds from 0 to `MAX_SECONDS`, the default backoff's
    delay and what went wrong."""
    try:
        delay = backoff(attempt)
        if (
            isinstance(delay, int | float)
            and not isinstance(delay, bool)
            and 0 <= delay <= MAX_SECONDS
        ):
            return float(delay), None
        problem = f"returned {delay!r}"
    except Exception as exc:
        problem = f"raised {type(exc).__name__}: {message_of(exc)}"
    return DEFAULT_BACKOFF.delay(attempt), problem


def decide(
    failure: BaseException,
    attempt: int,
    max_attempts: int,
    retry_on: tuple[type[BaseException], ...],
    backoff: Callable[[int], float],
) -> RetryDecision:
    """Whether attempt number `attempt` of `max_attempts`, which raised `failure`, runs again
    and after how long. `Retry` always asks for another attempt (after its own delay, if it
    gives one); other exceptions only when they are among `retry_on`. No attempts left: none.
    """
    if isinstance(failure, Retry):
        retryable, delay = True, failure.delay
    else:
        retryable, delay = isinstance(failure, retry_on), None
    if not retryable or out_of_attempts(attempt, max_attempts):
        return GIVE_UP
    if delay is not None:
        return RetryDecision(retry=True, delay=delay)
    delay, problem = backoff_delay(backoff, attempt)
    return RetryDecision(retry=True, delay=delay, problem=problem)


@dataclass(slots=True)
class Policy:
    """The runner-wide defaults the functions above are applied with: the backoff for tasks
    without their own, and the result and failed TTLs. `result_ttl` is worked out once per
    task."""

    backoff: Callable[[int], float]
    default_result_ttl: float | None
    failed_ttl: float | None
    _result_ttls: dict[str, float | None]

    def __init__(
        self,
        backoff: Callable[[int], float],
        result_ttl: float | None = DEFAULT_RESULT_TTL,
        failed_ttl: float | None = DEFAULT_FAILED_TTL,
    ) -> None:
        self.backoff = backoff
        self.default_result_ttl = result_ttl
        self.failed_ttl = failed_ttl
        self._result_ttls = {}

    def result_ttl(self, name: str, task_ttl: float | None, scheduled: bool) -> float | None:
        """`result_ttl(...)` for the task called `name`, with the runner's default."""
        try:
            return self._result_ttls[name]
        except KeyError:
            ttl = self._result_ttls[name] = result_ttl(task_ttl, scheduled, self.default_result_ttl)
            return ttl

    def decide(
        self,
        failure: BaseException,
        attempt: int,
        max_attempts: int,
        retry_on: tuple[type[BaseException], ...],
        backoff: Callable[[int], float] | None,
    ) -> RetryDecision:
        """`decide(...)` with the runner's backoff for a task without one."""
        return decide(failure, attempt, max_attempts, retry_on, backoff or self.backoff)


def backend_retry_delay(failures: int) -> float:
    """Seconds a worker waits after `failures` failed backend calls in a row before the next:
    growing, jittered, at most 10."""
    ceiling: float = min(0.1 * 2 ** min(failures, 10), 10.0)
    return ceiling * (0.5 + secrets.randbelow(1000) / 2000)
