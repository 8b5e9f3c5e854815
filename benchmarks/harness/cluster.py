"""A throwaway local Redis Cluster for the benchmarks: `primaries` redis-servers in cluster
mode on free local ports, joined by `redis-cli --cluster create` (no replicas, nothing kept
on disk), and stopped afterwards. Standard library only: it talks to the nodes through
redis-cli.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

START_WAIT = 30.0  # seconds the cluster may take to agree on its slots
BUS_OFFSET = 10000  # a node's cluster bus listens on its port + 10000


def free_port() -> int:
    """A free local port whose cluster bus port is free too."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + BUS_OFFSET > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + BUS_OFFSET))
            except OSError:
                continue
        return port


def cli(port: int, *args: str) -> str:
    """`redis-cli -p port args`, its answer as text."""
    command = ["redis-cli", "-p", str(port), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout


class BenchCluster:
    """`primaries` primaries of a local cluster that hold every slot between them."""

    def __init__(self, directory: Path, primaries: int = 3) -> None:
        self.directory = directory
        self.ports = [free_port() for _ in range(primaries)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        for port in self.ports:
            command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                       "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                       "--dir", str(self.directory), "--save", "",
                       "--appendonly", "no"]  # fmt: skip
            log = (self.directory / f"redis-{port}.log").open("ab")
            self.procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        self._wait(lambda: all(self._answers(port) for port in self.ports))
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(["redis-cli", "--cluster", "create", *nodes, "--cluster-yes"],
                       capture_output=True, check=True, timeout=60)  # fmt: skip
        self._wait(self.ready)

    def _answers(self, port: int) -> bool:
        try:
            return cli(port, "PING").strip() == "PONG"
        except subprocess.CalledProcessError:
            return False

    def ready(self) -> bool:
        """Every node says the cluster is ok with every slot served."""
        for port in self.ports:
            info = cli(port, "CLUSTER", "INFO")
            if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                return False
        return True

    def _wait(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_WAIT
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("the local Redis cluster did not come up")
            time.sleep(0.05)

    def owner(self, slot: int) -> int:
        """The port of the primary that serves `slot` (read from CLUSTER NODES)."""
        for line in cli(self.ports[0], "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" not in fields[2]:
                continue
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            for span in fields[8:]:
                first, _, last = span.partition("-")
                if first.isdigit() and int(first) <= slot <= int(last or first):
                    return port
        raise LookupError(f"no primary serves slot {slot}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def queues_on_every_primary(cluster: BenchCluster, per_primary: int) -> dict[int, list[str]]:
    """Queue names (`q0`, `q1`, ...) by the port of the primary their hash tag lands on,
    `per_primary` on each, found with CLUSTER KEYSLOT."""
    found: dict[int, list[str]] = {port: [] for port in cluster.ports}
    n = 0
    while any(len(names) < per_primary for names in found.values()):
        name = f"q{n}"
        slot = int(cli(cluster.ports[0], "CLUSTER", "KEYSLOT", f"{{{name}}}").strip())
        names = found[cluster.owner(slot)]
        if len(names) < per_primary:
            names.append(name)
        n += 1
    return found


@contextmanager
def bench_cluster(directory: Path, primaries: int = 3) -> Iterator[BenchCluster]:
    """A started `BenchCluster`, stopped afterwards."""
    cluster = BenchCluster(directory, primaries)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
