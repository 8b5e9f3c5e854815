"""The redis-py client a URL calls for (settings.py): one server, a cluster, or the primary
Sentinel names, and the connections pub/sub listens on.

One server: a `Redis` over a blocking pool. A cluster: a `RedisCluster`, which learns the
slots' owners from any node the URL lists, sends each command to the owner of its key's
slot, follows MOVED and ASK, and refreshes its map when the cluster changes. Sentinel: a
`Redis` whose connections ask the sentinels where the primary is, and ask again after a
failover. Either way a connection the server closed is replaced and the command sent again
(every script is safe to repeat, see backend.py).

Pub/sub in a cluster: a message published on any node reaches the subscribers of every
node, so a subscription is one plain connection to any primary the cluster client knows,
taken afresh each time a subscription starts (see listen.py).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from taskrunner_redis.settings import RedisSettings

Client: TypeAlias = Redis | RedisCluster
# opens a pub/sub connection for one subscription, closed when the block ends
Subscriber: TypeAlias = Callable[[], AbstractAsyncContextManager[PubSub]]

POOL_WAIT = 30.0  # seconds a call waits for a free connection (one server)
SOCKET_TIMEOUT = 30.0  # seconds a reply may take before the connection counts as dead
MAX_CONNECTIONS = 100  # per server, unless the URL says max_connections=N


def _retry() -> dict[str, Any]:
    return {
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def open_client(settings: RedisSettings) -> Client:
    """A client for the deployment the settings describe (not connected yet)."""
    if settings.topology == "cluster":
        return _cluster(settings)
    if settings.topology == "sentinel":
        return _sentinel(settings)
    # callers beyond the pool's size (100 unless the URL says max_connections=N) wait for a
    # free connection instead of failing, as a busy web app enqueuing would
    pool = BlockingConnectionPool.from_url(
        settings.url,
        timeout=POOL_WAIT,
        # a blocking wait (BLPOP) lasts up to waiting.LONGEST_BLOCK: reads must outlast it
        # (the URL's own socket_timeout=..., if any, wins)
        socket_timeout=SOCKET_TIMEOUT,
        socket_keepalive=True,
        **_retry(),
    )
    return Redis(connection_pool=pool)


async def close_client(client: Client) -> None:
    """Close the client and its connections (the pools are ours to close)."""
    if isinstance(client, RedisCluster):
        await client.aclose()
    else:
        await client.aclose(close_connection_pool=True)


def _connection_options(settings: RedisSettings) -> dict[str, Any]:
    """What each connection to a data node needs: credentials, TLS, timeouts."""
    options: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "username": settings.username,
        "password": settings.password,
    }
    if settings.tls:
        options["ssl"] = True
    options.update(settings.options)
    return options


def _cluster(settings: RedisSettings) -> RedisCluster:
    options = _connection_options(settings)
    options.setdefault("max_connections", MAX_CONNECTIONS)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in settings.nodes],
        # a MOVED answer patches the slot in the map; by default every fifth one makes
        # redis-py close all of its connections to read the whole map again, cutting the
        # calls other tasks have in flight (their answers lost), which a reshard or a
        # failover, with many MOVED at once, hits (the map is still read again after a
        # lost connection)
        reinitialize_steps=0,
        **options,
        **_retry(),
    )


def _sentinel(settings: RedisSettings) -> Redis:
    options = _connection_options(settings)
    options.setdefault("max_connections", MAX_CONNECTIONS)
    # the sentinels share the URL's timeouts and TLS, not the data nodes' password
    ask = {
        key: value
        for key, value in options.items()
        if key.startswith(("socket_", "ssl")) and key != "socket_keepalive"
    }
    # one try per sentinel per discovery: the client's own retries discover again
    ask["retry"] = Retry(NoBackoff(), 0)
    sentinel = Sentinel(settings.nodes, sentinel_kwargs=ask)  # type: ignore[no-untyped-call]
    assert settings.service is not None  # parse_url names one for every Sentinel URL
    client: Redis = sentinel.master_for(settings.service, db=settings.db, **options, **_retry())
    return client


def subscriber(client: Client, settings: RedisSettings) -> Subscriber:
    """How listen.py opens a subscription on this deployment (see the module's doc)."""

    def connection() -> tuple[Redis, bool]:
        """The client to subscribe with, and whether it is the subscription's own."""
        if not isinstance(client, RedisCluster):
            return client, False
        node = random.choice(client.get_primaries() or client.get_nodes())
        options = _connection_options(settings)
        options["socket_timeout"] = None  # a subscription waits for messages indefinitely
        options.pop("max_connections", None)
        return Redis(host=node.host, port=int(node.port), **options), True

    @contextlib.asynccontextmanager
    async def subscription() -> AsyncIterator[PubSub]:
        subscribing, own = connection()
        pubsub = subscribing.pubsub(ignore_subscribe_messages=True)
        try:
            yield pubsub
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            if own:
                with contextlib.suppress(Exception):
                    await subscribing.aclose()

    return subscription
