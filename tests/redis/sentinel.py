"""A Redis under Sentinel of the test's own: one primary, one replica and three sentinels
on free local ports, the service named `SERVICE`."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.helpers import free_port
from tests.redis.server import RedisServer

SERVICE = "trservice"
START_WAIT = 30.0  # seconds the sentinels may take to find the primary and its replica
DOWN_AFTER_MS = 1000  # how long the primary may be silent before sentinels call it down


class Sentinel:
    """One redis-server in sentinel mode, watching the primary at `primary_port`."""

    def __init__(self, directory: Path, primary_port: int) -> None:
        self.directory = directory
        self.primary_port = primary_port
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / f"sentinel-{self.port}.log"

    def start(self, attempts: int = 5) -> None:
        for attempt in range(attempts):
            self._start()
            if self._wait_up():
                return
            if attempt == attempts - 1:
                raise RuntimeError(f"a sentinel did not start; its log: {self.log.read_text()}")
            self.port = free_port()  # another process took the port meanwhile

    def _start(self) -> None:
        config = self.directory / f"sentinel-{self.port}.conf"  # sentinel rewrites it
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"logfile {self.log}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )
        self.proc = subprocess.Popen(
            ["redis-server", str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def _wait_up(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return True
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        return False

    def primary(self) -> tuple[str, int] | None:
        """Where this sentinel says the primary is."""
        client = redis.Redis(port=self.port, decode_responses=True)
        try:
            found = client.sentinel_get_master_addr_by_name(SERVICE)
        finally:
            client.close()
        if not isinstance(found, tuple):
            return None
        return str(found[0]), int(found[1])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


class SentinelGroup:
    """A primary, a replica of it, and three sentinels watching them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # a replica's first full copy starts at once (by default the primary waits 5 s)
        self.primary = RedisServer(
            directory, persistent=False, options=["--repl-diskless-sync-delay", "0"]
        )
        self.replica: RedisServer | None = None
        self.sentinels: list[Sentinel] = []

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/{db}"

    def start(self) -> None:
        self.primary.start()
        self.replica = RedisServer(
            self.directory,
            persistent=False,
            options=["--replicaof", "127.0.0.1", str(self.primary.port)],
        )
        self.replica.start()
        self.sentinels = [Sentinel(self.directory, self.primary.port) for _ in range(3)]
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_until(self._in_sync, "the replica's first copy of the primary")
        self.wait_until(self._settled, "the sentinels to find the replica and each other")

    def _in_sync(self) -> bool:
        assert self.replica is not None
        client = redis.Redis(port=self.replica.port)
        try:
            return client.info("replication").get("master_link_status") == "up"
        finally:
            client.close()

    def _settled(self) -> bool:
        assert self.replica is not None
        client = redis.Redis(port=self.sentinels[0].port, decode_responses=True)
        try:
            replicas = client.sentinel_slaves(SERVICE)
            others = client.sentinel_sentinels(SERVICE)
        finally:
            client.close()
        assert isinstance(others, list) and isinstance(replicas, list)
        return len(others) == 2 and any(
            int(r["port"]) == self.replica.port and "s_down" not in r["flags"] for r in replicas
        )

    def kill_primary(self) -> None:
        """SIGKILL the primary: the sentinels promote the replica."""
        assert self.primary.proc is not None
        self.primary.proc.kill()
        self.primary.proc.wait(10)

    def promoted(self) -> bool:
        """Whether every sentinel names the replica as the primary now."""
        assert self.replica is not None
        port = self.replica.port
        return all(s.primary() == ("127.0.0.1", port) for s in self.sentinels)

    def wait_until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_WAIT
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting for {what}")
            time.sleep(0.05)

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in (self.replica, self.primary):
            if server is not None:
                server.stop()


@contextmanager
def sentinel_group(directory: Path) -> Iterator[SentinelGroup]:
    """A started `SentinelGroup`, stopped afterwards; skipped without redis-server."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is needed for the Sentinel tests")
    group = SentinelGroup(directory)
    try:
        group.start()
        yield group
    finally:
        group.stop()
