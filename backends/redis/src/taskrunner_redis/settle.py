"""Settling batches: deciding, from their parts, that a closed batch ended or succeeded and
storing each callback exactly once; and the upkeep that settles what a crash left unsettled
and deletes batches whose retention ended. The design is in batches.py."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from taskrunner.backend import faults
from taskrunner_redis.batch_reads import BatchHead, BatchReader, BatchView, Part
from taskrunner_redis.store import RedisStore, as_text, queue_names

log = logging.getLogger("taskrunner.redis")

SETTLE_GRACE = 1.0  # seconds upkeep leaves a dirty mark or a close to the process doing it
SNAPSHOT_TRIES = 5  # reads of a batch's parts that may disagree before settling gives up
UPKEEP_BATCH = 100  # batches one upkeep settles or expires, at the most, per index
CALLBACKS = ("success", "complete")


class Settler:
    """Settles batches of one store; every step is safe to repeat or to run concurrently."""

    def __init__(self, store: RedisStore, reader: BatchReader) -> None:
        self.store = store
        self.reader = reader

    async def settle_all(self, ids: Iterable[str], closing: Iterable[str] = ()) -> None:
        """Settle each batch; a failure is logged, not raised: the change that called for
        it is stored already, and its dirty mark (or the closing index) brings upkeep."""
        closing = set(closing)
        for batch_id in dict.fromkeys([*ids, *closing]):
            try:
                await self.settle(batch_id, closing=batch_id in closing)
            except Exception as exc:
                log.warning("could not settle batch %s yet (%s: %s); upkeep will",
                            batch_id, type(exc).__name__, exc)  # fmt: skip

    async def settle(self, batch_id: str, closing: bool = False) -> BatchView | None:
        """Fire what the batch's members now call for, once each, and clear the marks that
        asked for it. `closing`: the batch's close (or upkeep standing in for it) is done
        with it once this settle got through. Answers the view it settled on."""
        (head,), now_us = await self.reader.heads([batch_id])
        if head is None:
            if closing:
                await self._index_remove(batch_id, "closing")
            return None
        if not head.closed:  # members end while it is open: nothing to fire yet
            (parts,) = await self.reader.parts([head])
            await self._clean(head.id, parts)
            return None
        cut = await self._snapshot(head)
        if cut is None:
            return None  # still changing: the changes' own settles follow
        view = BatchView(head, cut, now_us)
        await self._fire(view)
        await self._clean(head.id, cut)
        if closing:
            await self._index_remove(batch_id, "closing")
        if view.ended:
            client, _ = self.store.connected()
            await client.publish(self.store.keys.channel, batch_id)  # wakes wait_batch
        return view

    async def _snapshot(self, head: BatchHead) -> list[Part] | None:
        """The batch's parts, closed, as they all stood at one instant: one script run for
        one part; for several, read again until no part changed in between (each part
        counts its changes), which makes the last read a consistent cut."""
        (parts,) = await self.reader.parts([head], close=True)
        if len(parts) <= 1:
            return parts
        for _ in range(SNAPSHOT_TRIES):
            (again,) = await self.reader.parts([head])
            if [p.version for p in again] == [p.version for p in parts]:
                return again
            parts = again
        return None

    async def _fire(self, view: BatchView) -> None:
        """Store each callback the view calls for, then note it fired. The callback's
        enqueue is idempotent for good (its once-marker), so a crash in between, or two
        settles at once, still store it exactly once."""
        head = view.head
        kinds = [
            kind
            for kind, due, fired in (
                ("complete", view.ended, head.complete_fired),
                ("success", view.succeeded, head.success_fired),
            )
            if due and not fired
        ]
        if not kinds:
            return
        client, _ = self.store.connected()
        key = self.store.keys.batch(head.id, "batch")
        for kind in kinds:
            queue, header, payload = await client.hmget(
                key, [f"on_{kind}_queue", f"on_{kind}", f"on_{kind}_payload"]
            )
            if queue is not None and header is not None:
                entry = [*orjson.loads(header), f"bfired:{head.id}:{kind}"]
                await self.store.enqueue([as_text(queue)], fixed([orjson.dumps([entry]), payload]))
                if faults.ARMED is not None:
                    faults.reached("before_callback_flag")
        await client.hset(key, mapping={f"{kind}_fired": 1 for kind in kinds})

    async def _clean(self, batch_id: str, parts: Sequence[Part]) -> None:
        """Take off the dirty marks read, unless a newer change marked a part again."""
        _, scripts = self.store.connected()
        calls = [
            ("batch_clean", self.store.keys.route(p.queue),
             [self.store.prefix, p.queue, batch_id, p.mark])
            for p in parts if p.mark is not None
        ]  # fmt: skip
        if calls:
            await scripts.run_many(calls)

    async def _index_remove(self, batch_id: str, *indexes: str) -> None:
        client, _ = self.store.connected()
        async with client.pipeline(transaction=False) as pipe:
            for index in indexes:
                pipe.zrem(self.store.keys.batches(index), batch_id)
            await pipe.execute()

    # -- upkeep ----------------------------------------------------------------------------

    async def upkeep(self, dirty: Iterable[str]) -> None:
        """Settle the batches whose dirty marks (`dirty`, found by reclaim) or close were
        left unsettled, and expire those whose retention may have ended."""
        _, scripts = self.store.connected()
        closing, expiring = await scripts.run(
            "batch_index",
            self.store.keys.batches("all"),
            [self.store.prefix, "due", UPKEEP_BATCH],
        )
        await self.settle_all(dirty, [i.decode() for i in closing])
        for batch_id in (i.decode() for i in expiring):
            try:
                await self.expire(batch_id)
            except Exception as exc:
                log.warning("could not expire batch %s yet (%s: %s)",
                            batch_id, type(exc).__name__, exc)  # fmt: skip

    async def expire(self, batch_id: str) -> None:
        """Delete the batch if its retention ended; else look again when it may have."""
        (head,), now_us = await self.reader.heads([batch_id])
        if head is not None:
            (parts,) = await self.reader.parts([head])
            view = BatchView(head, parts, now_us)
            if not view.expired:
                ended_at = view.ended_at_us
                delay = head.ttl_us if ended_at is None else ended_at + head.ttl_us - now_us
                _, scripts = self.store.connected()
                await scripts.run(
                    "batch_index",
                    self.store.keys.batches("all"),
                    [self.store.prefix, "expires", batch_id, max(delay, 0)],
                )
                return
        await self.delete(batch_id)

    async def delete(self, batch_id: str) -> None:
        """Delete the batch's keys: its record first (reads find it gone from then on),
        its parts next, its place in the indexes last, so a crash leaves it to upkeep."""
        client, _ = self.store.connected()
        keys = self.store.keys
        key = keys.batch(batch_id, "batch")
        callbacks = await client.hmget(key, [f"on_{kind}_queue" for kind in CALLBACKS])
        queues = queue_names(await client.smembers(keys.batch(batch_id, "queues")))
        async with client.pipeline(transaction=False) as pipe:
            pipe.unlink(key)
            for kind, queue in zip(CALLBACKS, callbacks, strict=True):
                if queue is not None:
                    pipe.unlink(keys.queue(as_text(queue), f"bfired:{batch_id}:{kind}"))
            for queue in queues:
                for suffix in ("bm", "bw", "bc"):
                    pipe.unlink(keys.part(queue, suffix, batch_id))
                pipe.zrem(keys.queue(queue, "bdirty"), batch_id)
            pipe.unlink(keys.batch(batch_id, "queues"))
            for index in ("all", "closing", "expiring"):
                pipe.zrem(keys.batches(index), batch_id)
            await pipe.execute()


def fixed(arguments: list[Any]) -> Callable[[list[int]], list[Any]]:
    """The `arguments` of a one-queue script run (see `RedisStore.runs_per_queue`)."""
    return lambda _: arguments
