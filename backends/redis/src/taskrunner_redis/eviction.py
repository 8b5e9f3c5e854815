"""Refusing a Redis that may evict any key: checked once, when the backend connects.

A Redis that reaches its `maxmemory` makes room as its `maxmemory-policy` says. Under
`noeviction` it refuses writes (an enqueue raises `BackendError`) and loses nothing. The
`allkeys-*` policies delete keys of any kind, waiting and running jobs among them, and tell
nobody: such a server is refused unless the URL says `allow_eviction=true`. The `volatile-*`
policies delete only keys that have a time to live; taskrunner gives one only to finished
jobs' records and their dedup keys, which may then go before their retention ends, while
waiting and running jobs stay: they are accepted.
"""

from __future__ import annotations

import contextlib
import logging

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import ResponseError

from taskrunner.errors import ConfigurationError
from taskrunner_redis.clients import Client

log = logging.getLogger("taskrunner.redis")

SETTING = "maxmemory-policy"


def evicts_waiting_jobs(policy: str) -> bool:
    """Whether a full Redis with this policy may delete keys that carry no time to live."""
    return policy != "noeviction" and not policy.startswith("volatile-")


async def check_eviction_policy(client: Client, where: str, allowed: bool) -> None:
    """Raise `ConfigurationError` if the server (on a cluster: any primary) may evict
    waiting jobs, unless `allowed` (then, or if the policy cannot be read, log a warning)."""
    if isinstance(client, RedisCluster):
        for node in client.get_primaries():
            policy = await eviction_policy(client, node)
            judge_policy(policy, f"{where} (primary {node.name})", allowed)
    else:
        judge_policy(await eviction_policy(client), where, allowed)


def judge_policy(policy: str | None, where: str, allowed: bool) -> None:
    """Refuse or warn about one server's policy (see `check_eviction_policy`)."""
    if policy is None:
        log.warning(
            "could not read the %s of Redis at %s (CONFIG GET and INFO were refused): make "
            "sure it is noeviction or volatile-*, or jobs may vanish when Redis is full",
            SETTING,
            where,
        )
    elif evicts_waiting_jobs(policy):
        if not allowed:
            raise ConfigurationError(
                f"Redis at {where} has {SETTING} {policy}: when full, it deletes any key, "
                f"waiting and running jobs among them, without an error. Set {SETTING} to "
                "noeviction (or volatile-lru: only finished jobs' records may go early), or "
                "add allow_eviction=true to the URL to accept losing jobs"
            )
        log.warning(
            "Redis at %s has %s %s: jobs will vanish if it fills up (allow_eviction=true)",
            where,
            SETTING,
            policy,
        )


async def eviction_policy(client: Client, node: ClusterNode | None = None) -> str | None:
    """The server's maxmemory-policy (a cluster's: that of `node`): from CONFIG GET, else
    from INFO (managed services often rename or forbid CONFIG); None if neither tells."""
    on = {} if node is None else {"target_nodes": node}
    with contextlib.suppress(ResponseError):
        policy = (await client.config_get(SETTING, **on)).get(SETTING)
        if policy:
            return _text(policy)
    with contextlib.suppress(ResponseError):
        policy = (await client.info("memory", **on)).get("maxmemory_policy")
        if policy:
            return _text(policy)
    return None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
