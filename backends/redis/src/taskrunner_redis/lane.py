"""The enqueue lane: one connection of the pool kept for enqueues (and the worker lanes).

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

A worker's claims and its outcome reports get a lane each too (`WORKER_LANES` in
scripts.py): a worker sends one claim at a time and one report at a time, and the two run
at once, so each holds a connection of its own. They cost the pool two more connections
once a worker has claimed, so only a pool of at least twice `SMALLEST_POOL` lends them.

The short way. Once the lane's connection is up, a call skips most of redis-py's machinery:
hiredis packs the command in C (redis-py's asyncio client packs it in Python, a fifth of a
lone enqueue's client work), it is written straight to the connection's stream (redis-py
wraps each write in `asyncio.wait_for`, which starts a task), and the answer is read with
the connection's own `read_response`: its timeout, its parser, and its errors (a lost or
timed-out connection is closed, a `ResponseError` raised). A call that fails so because
its connection is lost or timed out goes again the long way, `execute_command` with the
client's retries, which connects afresh: as for any call redis-py retries, the function
may then run twice, which enqueue is safe against (it skips an id it stored). What the
short way leaves out: redis-py's health checks (a URL with `health_check_interval` keeps
the long way) and its per-command observability records (OpenTelemetry metrics of
redis-py, when enabled, do not count the lane's short calls). A command bigger than
`SHORT_WAY_BYTES` goes the long way, which waits for the socket to drain.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from taskrunner_redis.clients import Client

SMALLEST_POOL = 8  # connections a pool needs to lend one to the lane
# the most bytes a command sent the short way may have: a transport's buffer takes them
# without waiting (asyncio's default high-water mark is 64 KiB)
SHORT_WAY_BYTES = 32 * 1024

_pack_command: Callable[[tuple[Any, ...]], bytes] | None
try:  # hiredis packs in C; redis[hiredis] brings it, with pack_command since hiredis 2.1
    from hiredis import pack_command as _pack_command
except ImportError:  # pragma: no cover - an older hiredis: redis-py packs
    _pack_command = None


class Lane:
    """Runs commands on the lane's connection when it is free, else on the client."""

    def __init__(self, client: Client, smallest_pool: int = SMALLEST_POOL) -> None:
        self._client = client
        self._own: Redis | None = None
        if isinstance(client, Redis) and pool_size(client) >= smallest_pool:  # one server
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
            conn = short_way(own)
            if conn is not None and not options:
                packed = pack(conn, args)
                if len(packed) <= SHORT_WAY_BYTES:
                    try:
                        conn._writer.write(packed)  # type: ignore[union-attr]
                        return await conn.read_response()
                    except (RedisConnectionError, RedisTimeoutError):
                        pass  # closed by read_response: sent again the long way, below
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


def short_way(own: Redis) -> Connection | None:
    """The lane's connection, if a call can take the short way on it (see the module's doc):
    connected, with a stream to write to, and no health checks to make."""
    conn = own.connection
    if (
        isinstance(conn, Connection)
        and conn.is_connected
        and not conn.health_check_interval
        and getattr(conn, "_writer", None) is not None
    ):
        return conn
    return None


def pack(conn: Connection, args: tuple[Any, ...]) -> bytes:
    """The command in Redis's protocol, packed by hiredis (or by redis-py without it)."""
    if _pack_command is not None:
        return _pack_command(args)
    return b"".join(conn.pack_command(*args))


def pool_size(client: Redis) -> int:
    """How many connections the client's pool lends (0: not one server's blocking pool)."""
    pool = client.connection_pool
    return pool.max_connections if isinstance(pool, BlockingConnectionPool) else 0
