"""Recent work per queue, kept in process: the memory backend's side of `activity()`."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from taskrunner.backend import AttemptOutcome, QueueActivity
from taskrunner.backend.inspection import MINUTES_KEPT, RECENT_LIMIT, SECONDS_KEPT

Buckets = dict[int, dict[AttemptOutcome, int]]


@dataclass(slots=True)
class _Queue:
    recent: deque[tuple[float, float, AttemptOutcome]] = field(
        default_factory=lambda: deque(maxlen=RECENT_LIMIT)
    )
    per_minute: Buckets = field(default_factory=dict)
    per_second: Buckets = field(default_factory=dict)


def _count(buckets: Buckets, bucket: int, outcome: AttemptOutcome, kept: int) -> None:
    """Add one attempt to `bucket`; a new bucket drops those `kept` or more before it."""
    counts = buckets.get(bucket)
    if counts is None:
        counts = buckets[bucket] = {}
        for old in [b for b in buckets if b <= bucket - kept]:
            del buckets[old]
    counts[outcome] = counts.get(outcome, 0) + 1


class ActivityLog:
    """The last attempts that ended in each queue, and counts per minute and per second
    for the last hour."""

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}

    def record(self, queue: str, ended_at: float, runtime: float, outcome: AttemptOutcome) -> None:
        log = self._queues.get(queue)
        if log is None:
            log = self._queues[queue] = _Queue()
        log.recent.appendleft((ended_at, runtime, outcome))
        _count(log.per_minute, int(ended_at // 60), outcome, MINUTES_KEPT)
        _count(log.per_second, int(ended_at // 1), outcome, SECONDS_KEPT)

    def snapshot(self, queue: str, since: float | None = None) -> QueueActivity:
        log = self._queues.get(queue)
        if log is None:
            return QueueActivity()
        per_second: Buckets = {}
        if since is not None:
            first = int(since // 1)
            end = (first // 60 + 1) * 60
            per_second = {s: dict(c) for s, c in log.per_second.items() if first <= s < end}
        return QueueActivity(
            recent=list(log.recent),
            per_minute={minute: dict(counts) for minute, counts in log.per_minute.items()},
            per_second=per_second,
        )

    def queues(self) -> list[str]:
        return list(self._queues)
