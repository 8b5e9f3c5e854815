"""The URL's `wait_replicas`: Redis WAIT after the enqueue calls, on each primary that took
some of their writes.

WAIT answers how many replicas have every write the connection it is sent on made, so it
must follow the writes on their own connection. On one server (or Sentinel's primary) that
is the pipeline's one connection: one WAIT ends it. On a cluster the pipeline sends each
primary its share on a connection of its own, so one WAIT per primary goes with its share
(`WaitPlan`). A call the cluster client had to send again elsewhere (its slot had moved) ran
on another connection, which no WAIT covers: the plan names it (`WaitPlan.uncovered`), and
it is sent again, with its WAIT, as an enqueue may be (storing a job id stored already
changes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import TryAgainError

from taskrunner_redis.clients import Client
from taskrunner_redis.settings import RedisSettings

log = logging.getLogger("taskrunner.redis")


@dataclass(frozen=True, slots=True)
class Replicas:
    """How many replicas must confirm a write (Redis WAIT), and for how long to wait."""

    count: int
    timeout_ms: int

    def check(self, confirmed: object) -> None:
        """Warn when fewer replicas than asked confirmed in time: the write stands on the
        primary (a job stored runs), but a failover before it reaches them would lose it."""
        if isinstance(confirmed, Exception):
            raise confirmed
        if isinstance(confirmed, int) and confirmed < self.count:
            log.warning(
                "only %d of the %d replicas asked for (wait_replicas) confirmed an enqueue "
                "within %d ms: the jobs are stored on the primary, and would be lost if it "
                "failed over before they reach a replica",
                confirmed,
                self.count,
                self.timeout_ms,
            )


def replicas_of(settings: RedisSettings) -> Replicas | None:
    """What the URL's wait_replicas and wait_timeout ask of each enqueue (None: nothing)."""
    if settings.wait_replicas == 0:
        return None
    return Replicas(settings.wait_replicas, max(1, round(settings.wait_timeout * 1000)))


class Uncovered(TryAgainError):
    """A call that ran on a connection no WAIT followed: to be sent again (see the module's
    doc); taken for a call refused while its slot moves (moving.py)."""


class WaitPlan:
    """Where the WAITs of one pipeline of calls (routed by `keys`) go."""

    __slots__ = ("_client", "_keys", "_sent_to", "targets")

    def __init__(self, client: Client, keys: Sequence[str]) -> None:
        self._client, self._keys = client, keys
        # the options of each WAIT: none on one server, else the primary it goes to
        self.targets: list[dict[str, Any]] = [{}]
        self._sent_to: list[str] = []
        if isinstance(client, RedisCluster):
            primaries = {node.name: node for key in keys if (node := _primary(client, key))}
            self._sent_to = [_name(client, key) for key in keys]
            self.targets = [{"target_nodes": node} for node in primaries.values()]

    def uncovered(self, answers: list[Any]) -> list[Any]:
        """The answers, those of calls that ran elsewhere than their primary when sent (the
        client followed a redirection, and the map has moved) replaced by `Uncovered`."""
        client = self._client
        if not isinstance(client, RedisCluster):
            return answers
        out = list(answers)
        for i, key in enumerate(self._keys):
            if not isinstance(out[i], Exception) and _name(client, key) != self._sent_to[i]:
                out[i] = Uncovered(f"the call routed by {key} ran on another primary than its WAIT")
        return out


def _primary(client: RedisCluster, key: str) -> ClusterNode | None:
    """The primary the client's map says serves the slot of `key`."""
    return client.get_node_from_key(key)


def _name(client: RedisCluster, key: str) -> str:
    node = _primary(client, key)
    return node.name if node is not None else ""
