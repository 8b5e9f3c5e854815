"""Recent work per queue, kept in process: the memory backend's side of `activity()`."""

from __future__ import annotations

import math
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
    # the second the last attempt ended in, and its buckets in `per_second` and `per_minute`
    second: float = float("nan")
    second_counts: dict[AttemptOutcome, int] = field(default_factory=dict)
    minute_counts: dict[AttemptOutcome, int] = field(default_factory=dict)

    def turn(self, second: int) -> None:
        """Make `second` (and its minute) the buckets counted into."""
        self.second = second
        per_second, per_minute, minute = self.per_second, self.per_minute, second // 60
        self.second_counts = per_second.get(second) or _new_bucket(per_second, second, SECONDS_KEPT)
        self.minute_counts = per_minute.get(minute) or _new_bucket(per_minute, minute, MINUTES_KEPT)


def _new_bucket(buckets: Buckets, bucket: int, kept: int) -> dict[AttemptOutcome, int]:
    """Open `bucket`, dropping those `kept` or more before it."""
    for old in [b for b in buckets if b <= bucket - kept]:
        del buckets[old]
    counts: dict[AttemptOutcome, int] = {}
    buckets[bucket] = counts
    return counts


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
        # the buckets are looked up (and old ones dropped) once per second, not per attempt
        second = math.floor(ended_at)  # as int(ended_at // 1), without its float modulo
        if second != log.second:
            log.turn(second)
        counts = log.second_counts
        counts[outcome] = counts.get(outcome, 0) + 1
        counts = log.minute_counts
        counts[outcome] = counts.get(outcome, 0) + 1

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
