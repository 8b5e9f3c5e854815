"""The Redis Cluster drain benchmark's arguments and plan, without starting a cluster (the
benchmark itself is on demand: `uv run benchmarks/cluster_drain.py`; no figure is asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import cluster_drain as bench

from tests.redis.cluster import LocalCluster
from tests.redis.slots import SLOTS, key_slot


def test_the_arguments_parse_with_their_defaults_and_overrides() -> None:
    defaults = bench.parse([])
    assert (defaults.n, defaults.processes, defaults.queues_per_primary) == (10000, 3, 2)
    given = bench.parse(["--n", "500", "--rounds", "1", "--redis", "redis://127.0.0.1:7000/0"])
    assert (given.n, given.rounds, given.redis) == (500, 1, "redis://127.0.0.1:7000/0")


def test_round_robin_gives_every_queue_its_share() -> None:
    shares = [bench.jobs_on(i, 6, 10003) for i in range(6)]
    assert sum(shares) == 10003 and max(shares) - min(shares) <= 1


def test_every_worker_takes_every_queue_of_the_url(tmp_path: Path) -> None:
    command = bench.worker_command("redis+cluster://127.0.0.1:7000", ["q0", "q1"])
    assert command[command.index("--queues") + 1] == "q0,q1"
    assert command[command.index("--url") + 1] == "redis+cluster://127.0.0.1:7000"
    cluster = LocalCluster(tmp_path, primaries=3)  # free ports picked, nothing started
    assert cluster.url.startswith("redis+cluster://127.0.0.1:")


def test_the_queues_land_two_on_each_primary_by_its_port(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, primaries=3)  # nothing started: the slots are split evenly
    by_port = bench.queues_by_port(cluster, 2)
    assert list(by_port) == [node.port for node in cluster.primaries]
    for i, names in enumerate(by_port.values()):
        assert len(names) == 2
        assert all(i * SLOTS // 3 <= key_slot(q.encode()) < (i + 1) * SLOTS // 3 for q in names)
