"""The noop drain on a local 3-primary Redis Cluster beside the same on a single Redis,
taskrunner only (on demand, not part of run.py's rounds or of CI):

    uv run benchmarks/cluster_drain.py [--n 10000] [--queues-per-primary 2] [--processes 3]
        [--redis redis://127.0.0.1:6379/0] [--folder /tmp]

- Starts three redis-servers in cluster mode on free local ports with the tests' own
  `tests/redis/cluster.py` (`LocalCluster`, the slots split evenly) and picks queue names
  whose hash tag `{queue}` lands on each primary.
- For each backend: `--processes` `taskrunner run` worker processes take every queue; the
  queues are paused, `--n` noop jobs are enqueued over them round robin, the queues are
  resumed and the time to the last job done is the drain.
- Per node: the commands it served during the drain (INFO stats) and the CPU seconds it
  used (INFO cpu); and the worker processes' CPU seconds. Jobs per CPU second of one node
  is what that node could carry with a core of its own.
- The single Redis run uses a key prefix of its own on database 0 and deletes its keys
  afterwards (SCAN + DEL); the cluster is thrown away.

The machine may be shared and small: with 2 cores, three primaries and three workers
compete for the same cores, so the cluster cannot beat one Redis here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for the tests' cluster helper

from taskrunner import TaskRunner
from taskrunner.backend import JobState
from tests.redis.cluster import LocalCluster, local_cluster

runner = TaskRunner()  # the app of the drain's `taskrunner run` processes (given --url)


@runner.task(name="bench.noop")
async def noop(n: int) -> None:
    return None


@dataclass
class NodeLoad:
    """What one Redis node did during a drain."""

    port: int
    jobs: int
    commands: int
    cpu: float  # seconds, user + system


@dataclass
class Drain:
    rate: float  # jobs per second
    seconds: float
    worker_cpu: float  # seconds, all worker processes
    nodes: list[NodeLoad]


def counters(port: int) -> tuple[int, float]:
    """A node's commands served so far and its CPU seconds (user + system)."""
    client = redis.Redis(port=port, decode_responses=True)
    try:
        stats, cpu = client.info("stats"), client.info("cpu")
    finally:
        client.close()
    return int(stats["total_commands_processed"]), cpu["used_cpu_user"] + cpu["used_cpu_sys"]


def drop_prefix(port: int, prefix: str) -> int:
    """Delete the keys under `prefix` on the node at `port`; how many there were."""
    client = redis.Redis(port=port)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


def worker_command(url: str, queues: list[str]) -> list[str]:
    app = ["-m", "taskrunner", "run", "cluster_drain:runner", "--url", url]
    return [sys.executable, *app, "--queues", ",".join(queues), "--concurrency", "100",
            "--log-level", "warning"]  # fmt: skip


async def started(producer: TaskRunner, processes: int) -> None:
    while len(await producer.workers()) < processes:  # noqa: ASYNC110 (other processes)
        await asyncio.sleep(0.05)


async def succeeded(producer: TaskRunner, queues: list[str]) -> int:
    stats = await producer.backend.stats(queues)
    return sum(stats[q][JobState.SUCCEEDED] for q in queues)


async def drained(producer: TaskRunner, queues: list[str], count: int) -> None:
    while await succeeded(producer, queues) < count:  # noqa: ASYNC110 (other processes)
        await asyncio.sleep(0.02)


async def measure(
    url: str, by_node: dict[int, list[str]], n: int, pids: list[int], rounds: int
) -> list[Drain]:
    """`rounds` drains by the worker processes `pids`."""
    async with TaskRunner(url) as producer:
        await started(producer, len(pids))
        return [await one_drain(producer, by_node, n, pids) for _ in range(rounds)]


async def one_drain(
    producer: TaskRunner, by_node: dict[int, list[str]], n: int, pids: list[int]
) -> Drain:
    """Enqueue `n` noop jobs over the paused queues, resume them, time the drain."""
    queues = [q for names in by_node.values() for q in names]
    done_before = await succeeded(producer, queues)
    for queue in queues:
        await producer.pause(queue)
    await producer.enqueue_many(
        noop.options(queue=queues[i % len(queues)]).prepare(i) for i in range(n)
    )
    before = {port: counters(port) for port in by_node}
    workers_before = sum(process_cpu(pid) for pid in pids)
    start = time.perf_counter()
    for queue in queues:
        await producer.resume(queue)
    await drained(producer, queues, done_before + n)
    seconds = time.perf_counter() - start
    after = {port: counters(port) for port in by_node}
    worker_cpu = sum(process_cpu(pid) for pid in pids)
    nodes = [
        NodeLoad(
            port,
            sum(jobs_on(queues.index(q), len(queues), n) for q in names),
            after[port][0] - before[port][0],
            after[port][1] - before[port][1],
        )
        for port, names in by_node.items()
    ]
    return Drain(n / seconds, seconds, worker_cpu - workers_before, nodes)


def queues_by_port(cluster: LocalCluster, per_primary: int) -> dict[int, list[str]]:
    """Queue names (`q0`, `q1`, ...), `per_primary` on each primary, by its port."""
    names = cluster.queues_on_each_primary("q", per_primary)
    return {node.port: queues for node, queues in zip(cluster.primaries, names, strict=True)}


def jobs_on(index: int, queues: int, n: int) -> int:
    """How many of `n` jobs enqueued round robin over `queues` queues the `index`th got."""
    return n // queues + (index < n % queues)


def drain(
    url: str, by_node: dict[int, list[str]], n: int, processes: int, rounds: int, log: Path
) -> Drain:
    """`processes` worker processes on every queue of `by_node`: the median of `rounds`
    drains of `n` jobs each (by rate)."""
    queues = [q for names in by_node.values() for q in names]
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": f"{here}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with log.open("ab") as out:
        procs = [
            subprocess.Popen(worker_command(url, queues), cwd=here, env=env, stdout=out, stderr=out)
            for _ in range(processes)
        ]
    try:
        pids = [proc.pid for proc in procs]
        drains = asyncio.run(measure(url, by_node, n, pids, rounds))
        return sorted(drains, key=lambda d: d.rate)[len(drains) // 2]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)


def process_cpu(pid: int) -> float:
    """A live process's CPU seconds so far, user + system (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def show(name: str, result: Drain) -> None:
    jobs = sum(node.jobs for node in result.nodes)
    per_cpu = jobs / result.worker_cpu if result.worker_cpu > 0 else float("nan")
    print(f"{name}: {result.rate:8.0f} jobs/s  ({result.seconds:.2f} s; the worker processes "
          f"used {result.worker_cpu:.2f} CPU s,"
          f" {per_cpu:.0f} jobs per worker CPU second)")  # fmt: skip
    for node in result.nodes:
        per_cpu = node.jobs / node.cpu if node.cpu > 0 else float("nan")
        print(f"  node :{node.port}: {node.jobs:6d} jobs, {node.commands:7d} commands, "
              f"CPU {node.cpu:5.2f} s, {per_cpu:7.0f} jobs per node CPU second")  # fmt: skip


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000, help="noop jobs per drain")
    parser.add_argument("--queues-per-primary", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="drains; the median is shown")
    parser.add_argument("--processes", type=int, default=3, help="worker processes")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the single Redis")
    parser.add_argument("--folder", default=None, help="where the cluster's files go")
    return parser.parse_args(argv)


def main() -> None:
    args = parse()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is needed")
    prefix = f"bench-cluster-{os.getpid()}-{int(time.time())}"
    single_port = redis.Redis.from_url(args.redis).connection_pool.connection_kwargs["port"]
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        base = Path(folder)
        log = base / "workers.log"
        with local_cluster(base, primaries=3) as cluster:
            by_node = queues_by_port(cluster, args.queues_per_primary)
            on_cluster = drain(cluster.url, by_node, args.n, args.processes, args.rounds, log)
        queues = [q for names in by_node.values() for q in names]
        url = f"{args.redis}?prefix={prefix}"
        try:
            alone = drain(url, {single_port: queues}, args.n, args.processes, args.rounds, log)
        finally:
            drop_prefix(single_port, prefix)
    print(f"{args.n} noop jobs, {args.processes} worker processes (concurrency 100 each), "
          f"{len(queues)} queues, {os.cpu_count()} CPU cores")  # fmt: skip
    show(f"single Redis (:{single_port})", alone)
    show(f"Redis Cluster, {len(by_node)} primaries", on_cluster)
    print(f"cluster / single: {on_cluster.rate / alone.rate:.2f}")


if __name__ == "__main__":
    main()
