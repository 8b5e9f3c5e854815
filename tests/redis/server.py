"""A redis-server of a test's own, with an append-only file, that the test may restart."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.helpers import free_port


@contextmanager
def running_server(directory: Path, **settings: Any) -> Iterator[RedisServer]:
    """A started `RedisServer(directory, **settings)`, stopped afterwards; the test is
    skipped where redis-server is not installed."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(directory, **settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class PortTaken(Exception):
    """redis-server could not listen on its port: something else took it."""


class RedisServer:
    """A redis-server of the test's own, with an append-only file fsynced on every write.

    With `cluster=True` it runs in cluster mode as a one-node cluster holding every slot:
    it answers CROSSSLOT to any command whose keys span slots, as a real cluster does. With
    `persistent=False` it keeps nothing on disk, so a restart empties it. `options` are
    more redis-server settings (e.g. `["--maxmemory", "2mb"]`).
    """

    def __init__(
        self,
        directory: Path,
        cluster: bool = False,
        persistent: bool = True,
        options: Sequence[str] = (),
        alone: bool = True,
    ) -> None:
        self.directory = directory
        self.cluster = cluster
        self.alone = alone  # a cluster node that takes every slot itself (else: LocalCluster's)
        self.persistent = persistent
        self.options = list(options)
        self.port = free_port()
        self.bus_port = 0  # a cluster node's bus port, once started
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers. On its first start a port that
        another test took since `free_port` chose it is given up for another one (a restart
        keeps the port: the test's clients know it)."""
        first = self.proc is None
        while True:
            try:
                self._start()
                return
            except PortTaken:
                if not first:
                    raise
                self.port = free_port()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--dir",
                str(self.directory),
                *self._cluster_options(),
                *self.options,
                "--logfile",
                str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self._answering() == self.proc.pid:
                    break
                self.stop()  # another test's server answers there: ours cannot listen
                raise PortTaken(self.port)
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                if self.proc.poll() is not None:
                    if "Address already in use" in self.log.read_text():
                        raise PortTaken(self.port) from None
                    raise RuntimeError(
                        f"redis-server exited with {self.proc.returncode}; its log, "
                        f"{self.log}, ends: {self.log.read_text()[-2000:]}"
                    ) from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if self.cluster and self.alone:
            self._take_every_slot(deadline)

    def _answering(self) -> int:
        """The process id of the redis-server that answers on the port, once it has loaded
        its data (a PING while it loads raises BusyLoadingError)."""
        with redis.Redis(port=self.port, socket_connect_timeout=0.2) as client:
            client.ping()
            return int(client.info("server")["process_id"])

    def _cluster_options(self) -> list[str]:
        if not self.cluster:
            return []
        nodes = self.directory / f"nodes-{self.port}.conf"
        # the bus port defaults to port + 10000, which is past 65535 for a high free port
        self.bus_port = free_port()
        bus = str(self.bus_port)
        return [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(nodes),
            "--cluster-port",
            bus,
        ]

    def _take_every_slot(self, deadline: float) -> None:
        client = redis.Redis(port=self.port, decode_responses=True)

        def cluster(subcommand: str, *args: object) -> Any:
            # one string, "CLUSTER INFO", for redis-py to parse the answer into a dict
            return client.execute_command(f"CLUSTER {subcommand}", *args)  # type: ignore[no-untyped-call]

        try:
            if int(cluster("INFO")["cluster_slots_assigned"]) == 0:
                cluster("ADDSLOTSRANGE", 0, 16383)
            while cluster("INFO")["cluster_state"] != "ok":
                if time.monotonic() > deadline:
                    raise TimeoutError("the one-node Redis cluster did not come up")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
