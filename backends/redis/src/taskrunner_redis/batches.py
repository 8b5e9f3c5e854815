"""Batches in Redis (`taskrunner.backend.Batches`), fit for Redis Cluster.

Every script works on one slot, and a batch's members may sit on several queues (several
slots), its callbacks on others still. So a batch is kept in pieces:

- Its part on each queue it has members on (lua/batch.lua): the member ids, the waiting
  ones by due time, and counts of the others, under the queue's hash tag. The scripts that
  change a member (enqueue, claim, finish, cancel, retry, reclaim) change its part in the
  same run: counts never drift. A part also counts its changes (`v`), notes when its last
  unfinished member ended, and is either open (members may join) or closed.
- Its own record under the tag {@b:<id>} (lua/batch.lua): open or closed, the queues it
  has parts on, its callbacks as enqueue.lua takes them, and whether each fired.
- Indexes under {@batches} (lua/batch_index.lua): all batches, those being closed, and
  those whose retention may end.

Joining: before members are stored, `batch_join` (batch slot) checks that the batch is
open and notes their queues; the enqueue (queue slot) then refuses a member whose part is
closed. Closing: `batch_close` marks the record closed (no queue joins any more), then the
settle closes every part. So a member joins before its part closes, or not at all.

Settling (settle.py) is the Python side's, after the change: a script whose member change
left a part with no unfinished member marks the batch dirty on that queue (`bdirty`, same
run) and answers it; the caller settles it: it reads the record, closes and reads every
part (again until no part's `v` moved, a consistent cut), stores each due callback, sets
the fired flag, and takes the dirty marks off (unless marked anew since). Exactly once: a
callback keeps the id given in `NewBatch`, and its enqueue sets a once-marker key in its
queue's slot (`bfired:<batch>:<kind>`) in the same run, so storing it again is a no-op
even after the callback job itself is gone; its flag is set only after it is stored.

Crashes only delay: a crash after a member's change leaves its dirty mark, which every
worker's reclaim reads once it is SETTLE_GRACE old; a crash during a close leaves the batch
in the closing index, which upkeep settles the same way; reads that find a callback due but
not fired settle too. A batch's record expires `ttl` after its last member ended; reads
treat it as gone from then on, and upkeep deletes its keys (record first, indexes last).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import orjson

from taskrunner.backend import BatchRecord, JobState, NewBatch, NewJob
from taskrunner.errors import BatchNotOpen
from taskrunner_redis.batch_reads import BatchReader
from taskrunner_redis.keys import Keys
from taskrunner_redis.listen import FinishedWaiters, wait_until
from taskrunner_redis.records import enqueue_header, micros
from taskrunner_redis.settle import SETTLE_GRACE, Settler
from taskrunner_redis.store import RedisStore, queue_names

LIST_PAGE = 100  # batch ids read per round trip when listing


class RedisBatches:
    """The `Batches` ability of `RedisBackend`."""

    _store: RedisStore
    _batch_reader: BatchReader
    _settler: Settler
    keys: Keys
    prefix: str

    async def _finished(self) -> FinishedWaiters:
        raise NotImplementedError  # RedisBackend's

    async def _cancel_on(
        self, ids: Sequence[str], queues: Sequence[str | None], ttl: float | None
    ) -> list[JobState | None]:
        raise NotImplementedError  # RedisBackend's

    async def open_batch(self, batch: NewBatch) -> None:
        _, scripts = self._store.connected()
        with self._store.errors("opening a batch"):
            stored = await scripts.run(
                "batch_open",
                self.keys.batch(batch.id, "batch"),
                [self.prefix, batch.id, *callback_fields(batch)],
            )
            if stored:
                client, _ = self._store.connected()
                await client.zadd(self.keys.batches("all"), {batch.id: 0})

    async def _join_batches(self, jobs: Sequence[NewJob]) -> None:
        """Before members are stored: note their queues in their batches' records, or
        raise `BatchNotOpen` (nothing stored) if one of those batches is not open."""
        queues: dict[str, set[str]] = {}
        for job in jobs:
            if job.batch_id is not None:
                queues.setdefault(job.batch_id, set()).add(job.queue)
        _, scripts = self._store.connected()
        calls = [
            ("batch_join", self.keys.batch(b, "batch"), [self.prefix, b, *sorted(names)])
            for b, names in queues.items()
        ]
        for (_, _, (_, batch_id, *_)), joined in zip(
            calls, await scripts.run_many(calls), strict=True
        ):
            if not joined:
                raise BatchNotOpen(f"batch {batch_id} is closed or unknown: no member can join")

    async def close_batch(self, batch_id: str, ttl: float | None) -> BatchRecord | None:
        _, scripts = self._store.connected()
        ttl_us = -1 if ttl is None else micros(ttl)
        with self._store.errors("closing a batch"):
            # listed as closing first: should this process stop before its settle, upkeep
            # settles the batch in its stead
            await scripts.run(
                "batch_index",
                self.keys.batches("all"),
                [self.prefix, "closing", batch_id, micros(SETTLE_GRACE), ttl_us],
            )
            closed = await scripts.run(
                "batch_close", self.keys.batch(batch_id, "batch"), [self.prefix, batch_id, ttl_us]
            )
            if not closed:
                await self._settler.delete(batch_id)  # unknown: drop what the index noted
                return None
            await self._settler.settle_all([], closing=[batch_id])
            (record,) = await self.get_batches([batch_id])
        return record

    async def get_batches(self, ids: Sequence[str]) -> list[BatchRecord | None]:
        reader = self._batch_reader
        with self._store.errors("reading batches"):
            views = await reader.views(ids)
            due = [view.head.id for view in views if view is not None and view.needs_settle]
            if due:  # a settle did not happen (a crash), or is under way: see it done
                await self._settler.settle_all(due)
                views = await reader.views(ids)
        return [None if view is None else view.record() for view in views]

    async def list_batches(self, limit: int, before: str | None = None) -> list[BatchRecord]:
        client, _ = self._store.connected()
        found: list[BatchRecord] = []
        upper = f"({before}" if before is not None else "+"
        with self._store.errors("listing batches"):
            while len(found) < limit:
                ids = queue_names(
                    await client.zrevrangebylex(
                        self.keys.batches("all"), upper, "-", start=0, num=LIST_PAGE
                    )
                )
                found += [r for r in await self.get_batches(ids) if r is not None]
                if len(ids) < LIST_PAGE:
                    break
                upper = f"({ids[-1]}"
        return found[:limit]

    async def batch_members(self, batch_id: str, limit: int, after: str | None = None) -> list[str]:
        client, _ = self._store.connected()
        with self._store.errors("listing a batch's members"):
            (view,) = await self._batch_reader.views([batch_id])
            if view is None or limit <= 0:
                return []
            lower = "-" if after is None else f"({after}"
            async with client.pipeline(transaction=False) as pipe:
                for queue in view.head.queues:
                    key = self.keys.part(queue, "bm", batch_id)
                    pipe.zrangebylex(key, lower, "+", start=0, num=limit)
                parts = await pipe.execute()
        merged = heapq.merge(*([i.decode() for i in part] for part in parts))
        return [member for member, _ in zip(merged, range(limit), strict=False)]

    async def wait_batch(self, batch_id: str, timeout: float) -> BatchRecord | None:
        """Woken by the settle that finds the batch ended (it publishes the batch's id on
        the finished-jobs channel), never by polling."""
        with self._store.errors("waiting for a batch"):
            waiters = await self._finished()
            event = waiters.add(batch_id)
            try:
                return await wait_until(event, timeout, lambda: self._ended(batch_id))
            finally:
                waiters.remove(batch_id, event)

    async def _ended(self, batch_id: str) -> tuple[bool, BatchRecord | None]:
        """(True, the record) once the batch ended; (True, None) if it is gone."""
        (record,) = await self.get_batches([batch_id])
        return record is None or record.ended_at is not None, record

    async def cancel_batch(self, batch_id: str, ttl: float | None) -> int:
        client, _ = self._store.connected()
        with self._store.errors("cancelling a batch"):
            (view,) = await self._batch_reader.views([batch_id])
            if view is None:
                return 0
            async with client.pipeline(transaction=False) as pipe:
                for queue in view.head.queues:
                    pipe.zrange(self.keys.part(queue, "bw", batch_id), 0, -1)
                waiting = await pipe.execute()
        ids = [i.decode() for part in waiting for i in part]
        queues = [q for q, part in zip(view.head.queues, waiting, strict=True) for _ in part]
        states = await self._cancel_on(ids, queues, ttl)
        return sum(state is JobState.CANCELLED for state in states)


def callback_fields(batch: NewBatch) -> list[str | bytes]:
    """The batch hash's fields for its callbacks: per callback its id, queue, enqueue.lua
    header (as a member of no batch) and payload."""
    fields: list[str | bytes] = []
    for kind, job in (("success", batch.on_success), ("complete", batch.on_complete)):
        if job is not None:
            header = enqueue_header(job)
            header[-1] = False  # a callback joins no batch
            fields += [f"on_{kind}_id", job.id, f"on_{kind}_queue", job.queue]
            fields += [f"on_{kind}", orjson.dumps(header), f"on_{kind}_payload", job.payload]
    return fields
