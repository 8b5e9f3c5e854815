"""Queue statistics as `runner.stats()` returns them: counts by state, and how each queue is
doing lately (throughput, failure rate, runtimes, the longest wait), plus live workers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from taskrunner.inspection import AttemptOutcome, QueueActivity, WorkerRecord
from taskrunner.job import JobState

DEFAULT_WINDOW = 300.0
_FAILURES = (AttemptOutcome.FAILED, AttemptOutcome.RETRY, AttemptOutcome.LOST)
_ENDED = (AttemptOutcome.SUCCEEDED, *_FAILURES)


class QueueStats(dict[JobState, int]):
    """A queue's jobs counted by state (this dict), and its recent activity:

    `throughput`: attempts that ended per second over the window; `failure_rate`: the share
    of them that failed (None without any); `runtime_p50` and `runtime_p95`: attempt
    runtimes in seconds; `oldest_queued_age`: seconds the longest-waiting due job has
    waited (None when nothing waits). Activity fields are None on a backend that does not
    record activity.
    """

    def __init__(
        self,
        counts: Mapping[JobState, int],
        *,
        window: float = DEFAULT_WINDOW,
        throughput: float | None = None,
        failure_rate: float | None = None,
        runtime_p50: float | None = None,
        runtime_p95: float | None = None,
        oldest_queued_age: float | None = None,
    ) -> None:
        super().__init__(counts)
        self.window = window
        self.throughput = throughput
        self.failure_rate = failure_rate
        self.runtime_p50 = runtime_p50
        self.runtime_p95 = runtime_p95
        self.oldest_queued_age = oldest_queued_age


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


def queue_stats(
    counts: Mapping[JobState, int], activity: QueueActivity | None, now: float, window: float
) -> QueueStats:
    if activity is None:
        return QueueStats(counts, window=window)
    since = now - window
    ended: dict[AttemptOutcome, int] = {}
    for minute, by_outcome in activity.per_minute.items():
        if minute * 60 + 60 > since:  # the minute overlaps the window
            for outcome, n in by_outcome.items():
                ended[outcome] = ended.get(outcome, 0) + n
    total = sum(ended.get(o, 0) for o in _ENDED)
    failures = sum(ended.get(o, 0) for o in _FAILURES)
    runtimes = sorted(
        runtime
        for ended_at, runtime, outcome in activity.recent
        if ended_at >= since and outcome in _ENDED
    )
    oldest = activity.oldest_due_at
    return QueueStats(
        counts,
        window=window,
        throughput=total / window,
        failure_rate=failures / total if total else None,
        runtime_p50=percentile(runtimes, 0.5),
        runtime_p95=percentile(runtimes, 0.95),
        oldest_queued_age=None if oldest is None else max(now - oldest, 0.0),
    )
