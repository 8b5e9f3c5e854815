"""The marks a claim starts past (migrations/0016_claim_past_its_mark.sql).

Every claimed job leaves a dead entry in the claim's index until a VACUUM removes it, and
those entries sort before every job still queued. A backend remembers, per queue, the
claim key (priority, run_at, seq) of the greatest job it claimed from that queue's queued
scan, and its next claim reads the index past that key (and every better priority from its
start). The mark is a hint: the claim reads a queue from its start when the marked scan
finds fewer jobs than it needs, and at least every `FULL_SCAN_EVERY` seconds the backend
claims without marks, so a job that became queued below a mark (a released hold, a met
dependency, a reclaim, a requeue) waits at most about that long behind newer jobs of its
queue while they keep coming. Nothing is lost or claimed twice either way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeAlias

FULL_SCAN_EVERY = 1.0  # seconds: the longest a backend goes without an unmarked claim
SEQ_COLUMN = 28  # in a row of sql/claim.sql, after the record's columns
MARK_COLUMN = 29  # a mark's run_at as stored (NULL on a job's row)
QUEUE_COLUMN = 2
PRIORITY_COLUMN = 5
NO_MARKS: tuple[list[Any], ...] = ([], [], [], [])

Key: TypeAlias = tuple[int, datetime, int]  # (priority, run_at, seq): claim order


class ClaimMarks:
    """One backend's marks, per queue; `clock` (monotonic seconds) and `every` say when a
    claim goes without them."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, every: float = FULL_SCAN_EVERY
    ) -> None:
        self.keys: dict[str, Key] = {}
        self.clock = clock
        self.every = every
        self._full_at = -math.inf

    def arguments(self, queues: Sequence[str]) -> tuple[bool, tuple[list[Any], ...]]:
        """Whether the next claim of `queues` reads them from their start (the first claim,
        then once every `every` seconds), and the mark arrays sql/claim.sql takes ($5..$8)."""
        now = self.clock()
        if now - self._full_at >= self.every:
            self._full_at = now
            return True, NO_MARKS
        keys = self.keys
        marked = [queue for queue in queues if queue in keys]
        if not marked:
            return False, NO_MARKS
        return False, (
            marked,
            [keys[queue][0] for queue in marked],
            [keys[queue][1] for queue in marked],
            [keys[queue][2] for queue in marked],
        )

    def learn(self, queues: Sequence[str], rows: Sequence[Any], full: bool) -> list[Any]:
        """Take the new marks from the rows of a claim of `queues` and answer its jobs' rows.
        A row whose id is NULL is no job but a queue's new mark; the rows come in claim
        order, so a queue's last is its greatest. A claim without marks sets each queue's
        mark to what it took (none: the mark is dropped); a marked one only raises them."""
        jobs = []
        found: dict[str, Key] = {}
        for row in rows:
            if row[0] is None:
                found[row[QUEUE_COLUMN]] = (row[PRIORITY_COLUMN], row[MARK_COLUMN], row[SEQ_COLUMN])
            else:
                jobs.append(row)
        keys = self.keys
        if full:
            for queue in queues:
                keys.pop(queue, None)
            keys.update(found)
            return jobs
        for queue, key in found.items():
            old = keys.get(queue)
            if old is None or key > old:
                keys[queue] = key
        return jobs
