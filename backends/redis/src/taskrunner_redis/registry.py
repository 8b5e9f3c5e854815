"""The task registry (`TaskRegistry`) on Redis.

Every spec sits in one hash in a slot of its own, `P:{@tasks}:specs` (no queue name has an
@), which `task_specs` reads. The `taskrunner_enqueue` function (lua/door.lua) enqueues a
job from any language in one call, and one call reaches one slot (Redis Cluster): so a
worker also copies its specs into `P:{q}:tasks`, in the slot of each queue `q` a job of
theirs may be stored on from there: each task's own queue when it publishes, and each queue
it takes jobs from when it first claims there (`RedisStore.register`). Those queues are
listed in P:queues too, and the worker loads the public library that holds the function
(library.py). Should Redis lose the registry (a restart without persistence), the worker's
reclaim publishes it all again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TypeGuard

import orjson

from taskrunner_redis.store import RedisStore, as_text

# a queue name as the core allows it (taskrunner's own checks ran on a worker's specs; a
# spec written otherwise is kept in the registry, and copied to no queue's slot)
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,63}")


class RedisRegistry:
    """Publishing and reading task specs, on the same `RedisStore` as the backend."""

    _store: RedisStore

    async def publish_tasks(self, specs: Mapping[str, bytes]) -> None:
        if not specs:
            return
        store = self._store
        store.published.update(specs)
        with store.errors("publishing the task specs"):
            await publish(store)

    async def _republish_if_lost(self) -> None:
        """Publish again what this process published, if Redis lost the registry."""
        store = self._store
        if store.published:
            client, _ = store.connected()
            if not await client.exists(store.keys.task_specs):
                await publish(store)

    async def task_specs(self, names: Sequence[str] | None = None) -> dict[str, bytes]:
        client, _ = self._store.connected()
        key = self._store.keys.task_specs
        with self._store.errors("reading the task specs"):
            if names is None:
                stored = await client.hgetall(key)
                return {as_text(name): spec for name, spec in stored.items() if is_bytes(spec)}
            if not names:
                return {}
            specs = await client.hmget(key, list(names))
        return {name: spec for name, spec in zip(names, specs, strict=True) if is_bytes(spec)}


async def publish(store: RedisStore) -> None:
    """Store every spec this process published, in the registry's own hash and in the slots
    of the queues they may be enqueued on (see the module's doc)."""
    client, scripts = store.connected()
    await client.hset(store.keys.task_specs, mapping=store.published)  # type: ignore[arg-type]
    queues = {queue for spec in store.published.values() if (queue := queue_of(spec))}
    queues |= store.registered | store.specs_copied_to
    if queues:
        await store.list_queues(queues)
        await store.copy_specs(queues)
    await scripts.load_public()


def queue_of(spec: bytes) -> str | None:
    """The queue a spec names (None for a spec this version cannot read)."""
    try:
        queue = orjson.loads(spec).get("queue")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return queue if isinstance(queue, str) and _QUEUE_NAME.fullmatch(queue) else None


def is_bytes(value: object) -> TypeGuard[bytes]:
    """Whether a value Redis answered is stored bytes (not None: a field not stored)."""
    return isinstance(value, bytes)
