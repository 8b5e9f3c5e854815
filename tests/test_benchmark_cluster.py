"""The Redis Cluster drain benchmark's arguments and plan, without starting a cluster (the
benchmark itself is on demand: `uv run benchmarks/cluster_drain.py`; no figure is asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import cluster_drain as bench
from harness.cluster import BenchCluster


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
    cluster = BenchCluster(tmp_path, primaries=3)  # free ports picked, nothing started
    assert len(set(cluster.ports)) == 3
    assert cluster.url.startswith("redis+cluster://127.0.0.1:")
