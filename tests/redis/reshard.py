"""Moving one slot of a LocalCluster to another primary by hand, as `redis-cli --cluster
reshard` does: the target marks it IMPORTING and the source MIGRATING, MIGRATE moves its keys
a few at a time, then every primary is told the slot's new owner."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import redis

from tests.redis.cluster import LocalCluster, cluster_command
from tests.redis.server import RedisServer

KEYS_PER_STEP = 2  # keys moved by one MIGRATE: small, so calls run while the slot is half moved
STEP_PAUSE = 0.02  # seconds between MIGRATEs, for jobs to flow meanwhile


def start_move(cluster: LocalCluster, slot: int, target: RedisServer) -> RedisServer:
    """Mark `slot` IMPORTING on `target` and MIGRATING on its owner, which it returns."""
    source = cluster.owner(slot)
    target_id = cluster_command(target.port, "MYID")
    cluster_command(target.port, "SETSLOT", slot, "IMPORTING", cluster_command(source.port, "MYID"))
    cluster_command(source.port, "SETSLOT", slot, "MIGRATING", target_id)
    return source


def move_slot(
    cluster: LocalCluster,
    slot: int,
    target: RedisServer,
    halfway: Callable[[], None] | None = None,
) -> int:
    """Move `slot` from its primary to `target` (a primary) while clients keep using it;
    returns how many keys moved. `halfway` runs once after the first MIGRATE, while the
    slot's keys are split between the two primaries."""
    source = start_move(cluster, slot, target)
    target_id = cluster_command(target.port, "MYID")
    client = redis.Redis(port=source.port)
    moved = 0
    try:
        while keys := client.execute_command("CLUSTER GETKEYSINSLOT", slot, KEYS_PER_STEP):  # type: ignore[no-untyped-call]
            client.execute_command(  # type: ignore[no-untyped-call]
                "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys
            )
            if halfway is not None and moved == 0:
                halfway()
            moved += len(keys)
            time.sleep(STEP_PAUSE)
    finally:
        client.close()
    for node in (target, source, *(n for n in cluster.primaries if n not in (source, target))):
        cluster_command(node.port, "SETSLOT", slot, "NODE", target_id)
    return moved


def reshard(cluster: LocalCluster, source: RedisServer, target: RedisServer, slots: int) -> None:
    """Move the `slots` lowest slots of `source` to `target` with `redis-cli --cluster
    reshard`, two keys per MIGRATE."""
    source_id, target_id = (cluster_command(n.port, "MYID") for n in (source, target))
    subprocess.run(
        ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{source.port}",
         "--cluster-from", source_id, "--cluster-to", target_id,
         "--cluster-slots", str(slots), "--cluster-yes", "--cluster-pipeline", str(KEYS_PER_STEP)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def refusals(cluster: LocalCluster) -> int:
    """How many calls the primaries refused with TRYAGAIN (their slot was moving) so far."""
    total = 0
    for node in cluster.primaries:
        client = redis.Redis(port=node.port)
        try:
            stats = client.info("errorstats")
        finally:
            client.close()
        total += int(stats.get("errorstat_TRYAGAIN", {}).get("count", 0))
    return total
