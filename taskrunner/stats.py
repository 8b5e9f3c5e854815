"""Queue statistics as `runner.stats()` returns them: counts by state, and how each queue is
doing lately (throughput, failure rate, runtimes, the longest wait), plus live workers.

Attempts are counted per whole second: a window of `window` seconds ending now is counted
from the start of the second it begins in, so the span counted (`QueueStats.span`) is at
least `window` and less than a second longer, and every figure is over that span. Backends
keep counts per minute for the hour and per second within it; a window adds up the whole
minutes after the one it starts in, and the seconds of that one (see `ended_since`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from taskrunner.backend import AttemptOutcome, JobState, QueueActivity, WorkerRecord
from taskrunner.backend.inspection import MINUTES_KEPT
from taskrunner.errors import ConfigurationError

DEFAULT_WINDOW = 300.0
WINDOW_MIN = 1.0  # attempts are counted per second
WINDOW_MAX = MINUTES_KEPT * 60.0  # and kept for an hour
_FAILURES = (AttemptOutcome.FAILED, AttemptOutcome.RETRY, AttemptOutcome.LOST)
_ENDED = (AttemptOutcome.SUCCEEDED, *_FAILURES)


class QueueStats(dict[JobState, int]):
    """A queue's jobs counted by state (this dict), and its recent activity:

    `window`: the seconds asked for; `span`: the seconds counted, from the start of the
    second the window began in (`window` <= `span` < `window` + 1); `throughput`: attempts
    that ended per second of the span; `failure_rate`: the share of them that failed (None
    without any); `runtime_p50` and `runtime_p95`: runtimes in seconds of attempts that
    ended in the span; `oldest_queued_age`: seconds the longest-waiting due job has waited
    (None when nothing waits). Activity fields are None on a backend that does not record
    activity. `paused`: whether the queue is paused (no worker takes its jobs).
    """

    def __init__(
        self,
        counts: Mapping[JobState, int],
        *,
        window: float = DEFAULT_WINDOW,
        span: float | None = None,
        throughput: float | None = None,
        failure_rate: float | None = None,
        runtime_p50: float | None = None,
        runtime_p95: float | None = None,
        oldest_queued_age: float | None = None,
        paused: bool = False,
    ) -> None:
        super().__init__(counts)
        self.window = window
        self.span = span
        self.throughput = throughput
        self.failure_rate = failure_rate
        self.runtime_p50 = runtime_p50
        self.runtime_p95 = runtime_p95
        self.oldest_queued_age = oldest_queued_age
        self.paused = paused


class Stats(dict[str, QueueStats]):
    """Per queue name, its `QueueStats`; `workers` lists the workers alive."""

    def __init__(self, queues: Mapping[str, QueueStats], workers: Sequence[WorkerRecord]) -> None:
        super().__init__(queues)
        self.workers = list(workers)


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The value below which `fraction` of the values lie (nearest rank)."""
    if not sorted_values:
        return None
    rank = max(math.ceil(fraction * len(sorted_values)) - 1, 0)
    return sorted_values[min(rank, len(sorted_values) - 1)]


def check_window(window: float) -> None:
    """Raise `ConfigurationError` unless stats can be counted over `window` seconds."""
    if not WINDOW_MIN <= window <= WINDOW_MAX:  # NaN too
        raise ConfigurationError(
            f"window must be from {WINDOW_MIN:.0f} to {WINDOW_MAX:.0f} seconds, got {window!r}:"
            " attempts are counted per whole second and kept for an hour"
        )


def window_start(now: float, window: float) -> int:
    """The second (epoch seconds) from which a window of `window` seconds ending at `now`
    is counted: the one it begins in."""
    return math.floor(now - window)


def ended_since(activity: QueueActivity, start: int) -> dict[AttemptOutcome, int]:
    """Attempts that ended from the second `start` on, by outcome: the seconds of the
    minute `start` is in from `start` on, and the whole minutes after it."""
    first_minute = start // 60
    buckets = [c for m, c in activity.per_minute.items() if m > first_minute]
    buckets += [c for s, c in activity.per_second.items() if s >= start and s // 60 == first_minute]
    ended: dict[AttemptOutcome, int] = {}
    for by_outcome in buckets:
        for outcome, n in by_outcome.items():
            ended[outcome] = ended.get(outcome, 0) + n
    return ended


def queue_stats(
    counts: Mapping[JobState, int],
    activity: QueueActivity | None,
    now: float,
    window: float,
    *,
    paused: bool = False,
) -> QueueStats:
    """A queue's stats over `window` seconds ending at `now`, from its `activity` read with
    `since=window_start(now, window)`."""
    if activity is None:
        return QueueStats(counts, window=window, paused=paused)
    start = window_start(now, window)
    span = now - start
    ended = ended_since(activity, start)
    total = sum(ended.get(o, 0) for o in _ENDED)
    failures = sum(ended.get(o, 0) for o in _FAILURES)
    runtimes = sorted(
        runtime
        for ended_at, runtime, outcome in activity.recent
        if ended_at >= start and outcome in _ENDED
    )
    oldest = activity.oldest_due_at
    return QueueStats(
        counts,
        window=window,
        span=span,
        throughput=total / span,
        failure_rate=failures / total if total else None,
        runtime_p50=percentile(runtimes, 0.5),
        runtime_p95=percentile(runtimes, 0.95),
        oldest_queued_age=None if oldest is None else max(now - oldest, 0.0),
        paused=paused,
    )
