"""Moving one slot of a LocalCluster to another primary by hand, as `redis-cli --cluster
reshard` does: the target marks it IMPORTING and the source MIGRATING, MIGRATE moves its keys
a few at a time, then every primary is told the slot's new owner."""

from __future__ import annotations

import time

import redis

from tests.redis.cluster import LocalCluster, cluster_command
from tests.redis.server import RedisServer

KEYS_PER_STEP = 2  # keys moved by one MIGRATE: small, so calls run while the slot is half moved
STEP_PAUSE = 0.02  # seconds between MIGRATEs, for jobs to flow meanwhile


def move_slot(cluster: LocalCluster, slot: int, target: RedisServer) -> int:
    """Move `slot` from its primary to `target` (a primary) while clients keep using it;
    returns how many keys moved."""
    source = cluster.owner(slot)
    target_id = cluster_command(target.port, "MYID")
    cluster_command(target.port, "SETSLOT", slot, "IMPORTING", cluster_command(source.port, "MYID"))
    cluster_command(source.port, "SETSLOT", slot, "MIGRATING", target_id)
    client = redis.Redis(port=source.port)
    moved = 0
    try:
        while keys := client.execute_command("CLUSTER GETKEYSINSLOT", slot, KEYS_PER_STEP):  # type: ignore[no-untyped-call]
            client.execute_command(  # type: ignore[no-untyped-call]
                "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys
            )
            moved += len(keys)
            time.sleep(STEP_PAUSE)
    finally:
        client.close()
    for node in (target, source, *(n for n in cluster.primaries if n not in (source, target))):
        cluster_command(node.port, "SETSLOT", slot, "NODE", target_id)
    return moved
