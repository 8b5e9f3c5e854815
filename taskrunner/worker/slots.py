"""How many jobs of each queue a worker runs, and what it claims next (`QueueSlots`).

A worker whose queues share its `concurrency` claims from all of them in one call. A worker
with a limit per queue asks only the queues that have room, each for at most its room: the
queues that may take the same number share one `backend.claim`, so a round costs one call
when every queue has room for all the worker's free slots, and never more than one per queue.
Within one call the backend's order holds (priority, then due time, then enqueue order); when
the calls of a round compete for the last free slots, each round starts with the next queue
in turn, so that no queue starves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping

from taskrunner.backend import Backend, JobRecord

log = logging.getLogger("taskrunner.worker")


class QueueSlots:
    """Counts a worker's running jobs per queue against the queues' limits (if any)."""

    def __init__(self, queues: tuple[str, ...], limits: Mapping[str, int] | None) -> None:
        self.queues = queues
        self.limits = dict(limits) if limits is not None else None
        self.running = dict.fromkeys(queues, 0)
        self._turn = 0

    def describe(self) -> str:
        """The queues for a log line: `emails=5,feeds=20`, or `emails,feeds`."""
        if self.limits is None:
            return ",".join(self.queues)
        return ",".join(f"{q}={n}" for q, n in self.limits.items())

    def taken(self, queue: str) -> None:
        self.running[queue] = self.running.get(queue, 0) + 1

    def freed(self, queue: str) -> None:
        self.running[queue] = max(self.running.get(queue, 0) - 1, 0)

    def room(self, queue: str) -> int:
        """How many more jobs of `queue` the worker may run (ignoring its total)."""
        if self.limits is None:
            return 1 << 30
        return self.limits[queue] - self.running.get(queue, 0)

    def open_queues(self) -> tuple[str, ...]:
        """The queues with room for another job."""
        return tuple(q for q in self.queues if self.room(q) > 0)

    def wait(self, backend: Backend, poll: float) -> Awaitable[None]:
        """Wait (at most `poll` seconds) for a job to fall due on a queue with room."""
        return backend.wait(self.open_queues(), poll)

    def wake_events(self, slot_free: asyncio.Event) -> tuple[asyncio.Event, ...]:
        """What else ends an idle wait: `slot_free` while some queue is at its limit."""
        full = self.limits is not None and any(self.room(q) <= 0 for q in self.queues)
        return (slot_free,) if full else ()

    def plan(self, free: int) -> list[tuple[tuple[str, ...], int]]:
        """The claims of one round, given `free` slots in all: (queues, most jobs) each."""
        if free <= 0:
            return []
        if self.limits is None:
            return [(self.queues, free)]
        start = self._turn % len(self.queues)
        self._turn += 1
        groups: dict[int, list[str]] = {}
        for queue in self.queues[start:] + self.queues[:start]:
            room = min(self.room(queue), free)
            if room > 0:
                groups.setdefault(room, []).append(queue)
        return [(tuple(queues), room) for room, queues in groups.items()]


async def claim_round(
    backend: Backend, slots: QueueSlots, free: int, worker: str, lease: float
) -> list[JobRecord]:
    """Claim up to `free` jobs within the queues' limits, in as few calls as `slots` plans.

    A call that fails after others took jobs ends the round with those jobs (dropping them
    would leave them running nowhere until their lease expires); the next round tries again.
    """
    records: list[JobRecord] = []
    for queues, room in slots.plan(free):
        ask = min(room, free - len(records))
        if ask <= 0:
            break
        try:
            records += await backend.claim(queues, ask, worker, lease)
        except Exception:
            if not records:
                raise
            log.debug("worker %s: a claim failed after others took jobs", worker, exc_info=True)
            break
    return records
