"""Pausing queues on Redis (see `QueuePausing`): a queue is paused while its key
`P:{q}:paused` exists. The claim, peek and next_due scripts read it in the queue's own slot,
so a claim never takes from a paused queue, and an idle worker does not count its due jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

from taskrunner_redis.store import RedisStore


class RedisPausing:
    """Pausing and resuming queues, on the same `RedisStore` as the backend."""

    _store: RedisStore

    async def pause(self, queues: Sequence[str]) -> None:
        names = sorted(set(queues))
        if not names:
            return
        client, _ = self._store.connected()
        with self._store.errors("pausing queues"):
            # listed in P:queues, so a paused queue without jobs shows in stats and paused()
            await self._store.list_queues(names)
            async with client.pipeline(transaction=False) as pipe:
                for queue in names:
                    pipe.set(self._store.keys.queue(queue, "paused"), 1)
                await pipe.execute()

    async def resume(self, queues: Sequence[str]) -> None:
        names = sorted(set(queues))
        if not names:
            return
        _, scripts = self._store.connected()
        keys = self._store.keys
        with self._store.errors("resuming queues"):
            await scripts.run_many(
                [("resume", keys.route(queue), [keys.prefix, queue]) for queue in names]
            )

    async def paused(self) -> list[str]:
        client, _ = self._store.connected()
        with self._store.errors("reading paused queues"):
            names = await self._store.all_queues(None)
            if not names:
                return []
            async with client.pipeline(transaction=False) as pipe:
                for queue in names:
                    pipe.exists(self._store.keys.queue(queue, "paused"))
                flags = await pipe.execute()
        return sorted(name for name, flag in zip(names, flags, strict=True) if flag)
