"""A Redis Cluster of the test's own: several redis-servers in cluster mode on free local
ports, the slots split evenly between the primaries, each primary with `replicas` replicas.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.redis.server import RedisServer
from tests.redis.slots import SLOTS, key_slot

START_WAIT = 30.0  # seconds the cluster may take to agree on its slots


def cluster_command(port: int, subcommand: str, *args: object) -> Any:
    """Run `CLUSTER <subcommand> args` on the node at `port` (answers decoded)."""
    client = redis.Redis(port=port, decode_responses=True)
    try:
        # one string, "CLUSTER INFO", for redis-py to parse the answer into a dict
        return client.execute_command(f"CLUSTER {subcommand}", *args)  # type: ignore[no-untyped-call]
    finally:
        client.close()


class LocalCluster:
    """`primaries` primaries (and `replicas` replicas each) that hold every slot."""

    def __init__(
        self,
        directory: Path,
        primaries: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 15000,
    ) -> None:
        self.directory = directory
        # node_timeout_ms: how long a node may be silent before the others fail it over
        # (a short one is for failover tests only: under load it fails healthy nodes)
        self.options = [
            "--cluster-node-timeout",
            str(node_timeout_ms),
            "--repl-diskless-sync-delay",
            "0",  # a replica's first copy starts at once (by default after 5 s)
        ]
        self.primaries = [self._node() for _ in range(primaries)]
        self.replicas = [self._node() for _ in range(primaries * replicas)]

    def _node(self) -> RedisServer:
        return RedisServer(
            self.directory, cluster=True, persistent=False, options=self.options, alone=False
        )

    @property
    def nodes(self) -> list[RedisServer]:
        return self.primaries + self.replicas

    @property
    def url(self) -> str:
        """The URL of the cluster, listing every primary."""
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.primaries)
        return f"redis+cluster://{hosts}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        count = len(self.primaries)
        for i, node in enumerate(self.primaries):
            first, last = i * SLOTS // count, (i + 1) * SLOTS // count - 1
            cluster_command(node.port, "ADDSLOTSRANGE", first, last)
        for node in self.nodes[1:]:
            cluster_command(self.nodes[0].port, "MEET", "127.0.0.1", node.port, node.bus_port)
        self._wait(lambda: all(self._knows_all(n) for n in self.nodes))
        for i, node in enumerate(self.replicas):
            primary = self.primaries[i % count]
            cluster_command(node.port, "REPLICATE", cluster_command(primary.port, "MYID"))
        self._wait(self.ready)
        self._wait(lambda: all(self.in_sync(node) for node in self.replicas))

    def in_sync(self, node: RedisServer) -> bool:
        """Whether a replica has its first copy of its primary and follows it."""
        client = redis.Redis(port=node.port)
        try:
            return client.info("replication").get("master_link_status") == "up"
        finally:
            client.close()

    def replica_of(self, primary: RedisServer) -> RedisServer:
        """A replica that follows `primary` now."""
        for node in self.nodes:
            if node is not primary and node.proc is not None and node.proc.poll() is None:
                client = redis.Redis(port=node.port, decode_responses=True)
                try:
                    info = client.info("replication")
                finally:
                    client.close()
                if info["role"] == "slave" and int(info["master_port"]) == primary.port:
                    return node
        raise LookupError(f"no replica follows the node at port {primary.port}")

    def role(self, node: RedisServer) -> str:
        client = redis.Redis(port=node.port, decode_responses=True)
        try:
            return str(client.info("replication")["role"])
        finally:
            client.close()

    def _knows_all(self, node: RedisServer) -> bool:
        return len(cluster_command(node.port, "NODES")) == len(self.nodes)

    def ready(self) -> bool:
        """Every node says the cluster is ok and sees every slot served."""
        for node in self.nodes:
            info = cluster_command(node.port, "INFO")
            if info["cluster_state"] != "ok" or int(info["cluster_slots_ok"]) != SLOTS:
                return False
        return True

    def _wait(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_WAIT
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("the local Redis cluster did not come up")
            time.sleep(0.05)

    def owner(self, slot: int) -> RedisServer:
        """The primary that serves `slot`."""
        asked = next(n for n in self.nodes if n.proc is not None and n.proc.poll() is None)
        for first, last, *serving in cluster_command(asked.port, "SLOTS"):
            if first <= slot <= last:
                return self._by_port(int(serving[0][1]))  # its primary comes first
        raise LookupError(f"no primary serves slot {slot}")

    def _by_port(self, port: int) -> RedisServer:
        return next(node for node in self.nodes if node.port == port)

    def queues_on_each_primary(self, prefix: str, per_primary: int = 1) -> list[list[str]]:
        """Queue names whose slots land on each primary (in the primaries' order)."""
        spans = [
            (i * SLOTS // len(self.primaries), (i + 1) * SLOTS // len(self.primaries) - 1)
            for i in range(len(self.primaries))
        ]
        found: list[list[str]] = [[] for _ in self.primaries]
        n = 0
        while any(len(names) < per_primary for names in found):
            name = f"{prefix}{n}"
            slot = key_slot(name.encode())
            i = next(i for i, (first, last) in enumerate(spans) if first <= slot <= last)
            if len(found[i]) < per_primary:
                found[i].append(name)
            n += 1
        return found

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@contextmanager
def local_cluster(directory: Path, **shape: int) -> Iterator[LocalCluster]:
    """A started `LocalCluster(directory, **shape)`, stopped afterwards; skipped without
    redis-server."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is needed for the Redis Cluster tests")
    cluster = LocalCluster(directory, **shape)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
