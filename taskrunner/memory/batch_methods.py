"""The `Batches` ability of the memory backend: its methods, over the store's `BatchBook`
(`taskrunner.memory.batches`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from taskrunner.backend import BatchRecord, JobState, NewBatch
from taskrunner.backend.waiting import within
from taskrunner.memory.store import Store


class BatchMethods:
    """The `Batches` ability of `MemoryBackend`, over its store's `BatchBook`."""

    _store: Store

    async def cancel(self, ids: Sequence[str], ttl: float | None) -> list[JobState | None]:
        raise NotImplementedError  # MemoryBackend's

    async def open_batch(self, batch: NewBatch) -> None:
        self._store.batches.open(batch, self._store.clock())

    async def close_batch(self, batch_id: str, ttl: float | None) -> BatchRecord | None:
        batch = self._store.batches.close(batch_id, ttl, self._store.clock())
        return None if batch is None else batch.record()

    async def get_batches(self, ids: Sequence[str]) -> list[BatchRecord | None]:
        book, now = self._store.batches, self._store.clock()
        return [None if (b := book.find(i, now)) is None else b.record() for i in ids]

    async def list_batches(self, limit: int, before: str | None = None) -> list[BatchRecord]:
        book, now = self._store.batches, self._store.clock()
        ids = sorted((i for i in book.batches if before is None or i < before), reverse=True)
        found = (book.find(i, now) for i in ids)
        return [batch.record() for batch in found if batch is not None][:limit]

    async def batch_members(self, batch_id: str, limit: int, after: str | None = None) -> list[str]:
        batch = self._store.batches.find(batch_id, self._store.clock())
        if batch is None:
            return []
        members = batch.members
        start = 0 if after is None or after not in members else members.index(after) + 1
        return members[start : start + limit]

    async def wait_batch(self, batch_id: str, timeout: float) -> BatchRecord | None:
        batch = self._store.batches.find(batch_id, self._store.clock())
        if batch is None:
            return None
        if not batch.ended:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            batch.waiters.append(waiter)
            if not await within(waiter, timeout):
                return None
        return batch.record()

    async def cancel_batch(self, batch_id: str, ttl: float | None) -> int:
        store = self._store
        batch = store.batches.find(batch_id, store.clock())
        if batch is None:
            return 0
        waiting = (JobState.QUEUED, JobState.SCHEDULED)
        ids = [m for m in batch.members if (j := store.jobs.get(m)) and j.state in waiting]
        await self.cancel(ids, ttl)
        return len(ids)
