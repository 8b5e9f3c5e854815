"""The enqueue lane: one connection of the pool kept for enqueues.

Taking a connection from the pool and giving it back costs a call about a third of its
client-side work (the blocking pool's condition and locks, its bookkeeping); an enqueue
is one short call, so that share is what a web handler's `await task.enqueue(...)` waits
on most after the round trip itself. The runner sends its enqueues one call at a time
(concurrent ones share a call, see taskrunner/_coalesce.py), so one connection held for
them serves nearly all of them: a call that finds the lane in use (an enqueue outside the
coalescer, a batch's member) takes a pool connection as before.

The lane is a single-connection client over the same pool, so a lost connection is
replaced and the call sent again as on any other (enqueue is safe to repeat). It costs the
pool one connection for as long as the backend is connected; a pool smaller than
`SMALLEST_POOL` keeps all of its connections for the other calls. Only one server's
blocking pool lends one: a Redis Cluster client (a pool per node) has no lane, nor has a
Sentinel client (a single-connection client held across a failover kept the enqueues of
tests/redis/test_sentinel.py from reaching the promoted replica).
"""

from __future__ import annotations

import contextlib
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from taskrunner_redis.clients import Client

SMALLEST_POOL = 8  # connections a pool needs to lend one to the lane


class Lane:
    """Runs commands on the lane's connection when it is free, else on the client."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._own: Redis | None = None
        if isinstance(client, Redis) and _pool_size(client) >= SMALLEST_POOL:  # one server
            # takes its connection at its first command
            self._own = LaneClient(
                connection_pool=client.connection_pool, single_connection_client=True
            )
        self._busy = False

    @property
    def held(self) -> bool:
        """Whether the lane has a connection of its own (see the module's doc)."""
        return self._own is not None

    async def execute(self, *args: Any, **options: Any) -> Any:
        """`execute_command(*args, **options)` on the lane, or on the client if it is busy."""
        own = self._own
        if own is None or self._busy:
            return await self._client.execute_command(*args, **options)
        self._busy = True
        try:
            return await own.execute_command(*args, **options)  # type: ignore[no-untyped-call]
        finally:
            self._busy = False

    async def close(self) -> None:
        """Give the lane's connection back to the pool (before the pool closes)."""
        own, self._own = self._own, None
        if own is not None:
            await own.aclose()


class LaneClient(Redis):
    """The lane's single-connection client. One dropped unclosed, because the loop it ran on
    ended under it (a sync app's `asyncio.run` per call: the runner then forgets its
    connections), has no loop left to close its connection on: redis-py's own finalizer
    would raise from inside whatever code the garbage collector interrupted."""

    def __del__(self, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # "Event loop is closed": it died with it
            super().__del__(*args)


def _pool_size(client: Redis) -> int:
    """How many connections the client's pool lends (0: not one server's blocking pool)."""
    pool = client.connection_pool
    return pool.max_connections if isinstance(pool, BlockingConnectionPool) else 0
