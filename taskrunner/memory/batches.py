"""Batches in the memory backend: each batch's counts, moved by the store in the same step
as each member's state (`BatchBook.moved`), and its callbacks, stored through the store's
own `store_new` the moment the batch settles (see `taskrunner.backend.Batches`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from taskrunner.backend import FINISHED_STATES, BatchRecord, JobState, NewBatch, NewJob
from taskrunner.errors import BatchNotOpen

UNFINISHED = (JobState.WAITING, JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING)


@dataclass(slots=True)
class StoredBatch:
    """One batch, its members in the order they were stored, and who waits for its end."""

    id: str
    created_at: float
    on_success: NewJob | None
    on_complete: NewJob | None
    closed: bool = False
    counts: dict[JobState, int] = field(default_factory=lambda: dict.fromkeys(JobState, 0))
    members: list[str] = field(default_factory=list)
    success_fired: bool = False
    complete_fired: bool = False
    ended_at: float | None = None
    ttl: float | None = None
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.closed and not any(self.counts[state] for state in UNFINISHED)

    def record(self) -> BatchRecord:
        success, complete = self.on_success, self.on_complete
        return BatchRecord(
            id=self.id,
            created_at=self.created_at,
            closed=self.closed,
            total=len(self.members),
            counts=dict(self.counts),
            on_success=None if success is None else success.id,
            on_complete=None if complete is None else complete.id,
            success_fired=self.success_fired,
            complete_fired=self.complete_fired,
            ended_at=self.ended_at,
        )

    def expired(self, now: float) -> bool:
        return (
            self.ended_at is not None and self.ttl is not None and self.ended_at + self.ttl <= now
        )


class BatchBook:
    """Every batch of one store. `store_new(job, now)` stores a callback job."""

    def __init__(self, store_new: Callable[[NewJob, float], str]) -> None:
        self.store_new = store_new
        self.batches: dict[str, StoredBatch] = {}

    def open(self, new: NewBatch, now: float) -> None:
        if new.id not in self.batches:
            self.batches[new.id] = StoredBatch(new.id, now, new.on_success, new.on_complete)

    def find(self, batch_id: str, now: float) -> StoredBatch | None:
        """The batch, unless it is unknown or its retention has ended (then forgotten)."""
        batch = self.batches.get(batch_id)
        if batch is not None and batch.expired(now):
            del self.batches[batch_id]
            return None
        return batch

    def check_open(self, batch_ids: Sequence[str]) -> None:
        """Raise `BatchNotOpen` unless every batch named is open."""
        for batch_id in batch_ids:
            batch = self.batches.get(batch_id)
            if batch is None or batch.closed:
                state = "closed" if batch is not None else "unknown"
                raise BatchNotOpen(f"batch {batch_id} is {state}: no member can join it")

    def added(self, batch_id: str, job_id: str) -> None:
        """A member was stored, as queued (the store moves it on from there)."""
        batch = self.batches[batch_id]
        batch.members.append(job_id)
        batch.counts[JobState.QUEUED] += 1

    def moved(self, batch_id: str, before: JobState, after: JobState, now: float) -> None:
        """A member went from `before` to `after`; the batch may settle."""
        batch = self.batches.get(batch_id)
        if batch is None or before is after:
            return
        batch.counts[before] -= 1
        batch.counts[after] += 1
        if after in FINISHED_STATES or before in FINISHED_STATES:
            self.settle(batch, now)

    def close(self, batch_id: str, ttl: float | None, now: float) -> StoredBatch | None:
        batch = self.find(batch_id, now)
        if batch is not None and not batch.closed:
            batch.closed, batch.ttl = True, ttl
            self.settle(batch, now)
        return batch

    def settle(self, batch: StoredBatch, now: float) -> None:
        """Fire what the batch's counts now call for, once each, and note its end."""
        if not batch.ended:
            batch.ended_at = None  # a member was retried by hand: not ended any more
            return
        if batch.ended_at is None:
            batch.ended_at = now
        if not batch.complete_fired:
            batch.complete_fired = True
            if batch.on_complete is not None:
                self.store_new(batch.on_complete, now)
        if not batch.success_fired and batch.counts[JobState.SUCCEEDED] == len(batch.members):
            batch.success_fired = True
            if batch.on_success is not None:
                self.store_new(batch.on_success, now)
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)
        batch.waiters.clear()
