"""Recent work per queue, kept in process: the memory backend's side of `activity()`."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from taskrunner.inspection import MINUTES_KEPT, RECENT_LIMIT, AttemptOutcome, QueueActivity


@dataclass(slots=True)
class _Queue:
    recent: deque[tuple[float, float, AttemptOutcome]] = field(
        default_factory=lambda: deque(maxlen=RECENT_LIMIT)
    )
    per_minute: dict[int, dict[AttemptOutcome, int]] = field(default_factory=dict)


class ActivityLog:
    """The last attempts that ended in each queue, and per-minute counts for the last hour."""

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}

    def record(self, queue: str, ended_at: float, runtime: float, outcome: AttemptOutcome) -> None:
        log = self._queues.get(queue)
        if log is None:
            log = self._queues[queue] = _Queue()
        log.recent.appendleft((ended_at, runtime, outcome))
        minute = int(ended_at // 60)
        counts = log.per_minute.get(minute)
        if counts is None:
            counts = log.per_minute[minute] = {}
            for old in [m for m in log.per_minute if m <= minute - MINUTES_KEPT]:
                del log.per_minute[old]
        counts[outcome] = counts.get(outcome, 0) + 1

    def snapshot(self, queue: str) -> QueueActivity:
        log = self._queues.get(queue)
        if log is None:
            return QueueActivity()
        return QueueActivity(
            recent=list(log.recent),
            per_minute={minute: dict(counts) for minute, counts in log.per_minute.items()},
        )

    def queues(self) -> list[str]:
        return list(self._queues)
