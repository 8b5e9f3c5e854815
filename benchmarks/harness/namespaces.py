"""Each library's own corner of the servers: a Redis db number, a Postgres database or a
SQLite file, emptied before and after every adapter run so that runs cannot see each
other's data."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.libraries import LibrarySpec


class ServerDown(RuntimeError):
    """A server the chosen backend needs does not answer."""


SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class Servers:
    redis: str = "redis://127.0.0.1:6379"
    postgres: str = "postgresql://postgres@127.0.0.1:5432"
    sqlite: Path = Path(tempfile.gettempdir()) / "taskrunner-benchmarks-sqlite"
    """The folder of the SQLite files (its disk is the one measured)."""

    def url(self, backend: str, lib: LibrarySpec) -> str:
        if backend == "redis":
            return f"{self.redis.rstrip('/')}/{lib.redis_db}"
        if backend == "postgres":
            return f"{self.postgres.rstrip('/')}/{lib.postgres_database}"
        if backend == "sqlite":
            return f"sqlite:///{self.sqlite.resolve() / lib.sqlite_file}"
        return "memory://"

    def reset(self, backend: str, lib: LibrarySpec) -> None:
        """Empty the library's namespace (Postgres: a fresh database; SQLite: no file)."""
        if backend == "sqlite":
            self._remove_sqlite(lib)
        elif backend == "redis":
            self._redis("SELECT", str(lib.redis_db), "FLUSHDB")
        elif backend == "postgres":
            name = lib.postgres_database
            self._psql(
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
            )

    def drop(self, backend: str, lib: LibrarySpec) -> None:
        """Remove what the run left behind."""
        if backend == "sqlite":
            self._remove_sqlite(lib)
        elif backend == "redis":
            self._redis("SELECT", str(lib.redis_db), "FLUSHDB")
        elif backend == "postgres":
            self._psql(f'DROP DATABASE IF EXISTS "{lib.postgres_database}" WITH (FORCE)')

    @contextlib.contextmanager
    def exclusive(self, backend: str) -> Iterator[None]:
        """Hold the backend's servers for this run: a second harness run on the same servers
        (another shell, a CI job) waits here instead of emptying our namespaces mid-run."""
        servers = {"redis": self.redis, "postgres": self.postgres, "sqlite": str(self.sqlite)}
        server = servers.get(backend, "memory")
        digest = hashlib.sha1(server.encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"taskrunner-benchmarks-{digest}.lock"
        with path.open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"another benchmark run is using {backend}; waiting", file=sys.stderr)
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def check(self, backend: str) -> None:
        """Raise ServerDown with a hint when the backend's server does not answer."""
        if backend == "redis":
            self._redis("PING")
        elif backend == "postgres":
            self._psql("SELECT 1")
        elif backend == "sqlite":
            try:
                self.sqlite.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ServerDown(f"SQLite folder {self.sqlite}: {error}") from None

    def _remove_sqlite(self, lib: LibrarySpec) -> None:
        for suffix in SQLITE_SUFFIXES:
            (self.sqlite / f"{lib.sqlite_file}{suffix}").unlink(missing_ok=True)

    def _redis(self, *words: str) -> None:
        """Send commands (`SELECT n FLUSHDB` is two) over RESP and check every reply."""
        parts = urlsplit(self.redis)
        commands = _split_commands(words)
        payload = b"".join(_resp(*command) for command in commands)
        try:
            with socket.create_connection(
                (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=30
            ) as conn:
                conn.sendall(payload)
                replies = _read_lines(conn, len(commands))
        except OSError as error:
            raise ServerDown(f"Redis at {parts.hostname}:{parts.port}: {error}") from None
        for reply in replies:
            if reply.startswith(b"-"):
                raise ServerDown(f"Redis said {reply.decode()!r}")

    def _psql(self, *statements: str) -> None:
        psql = shutil.which("psql")
        if psql is None:
            raise ServerDown("psql is not on PATH (apt-get install postgresql-client)")
        command = [psql, "--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1"]
        command += ["-d", f"{self.postgres.rstrip('/')}/postgres"]
        for statement in statements:
            command += ["-c", statement]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise ServerDown(f"Postgres: {done.stderr.strip()}")


ARITY = {"SELECT": 1, "FLUSHDB": 0, "PING": 0}


def _split_commands(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    commands, index = [], 0
    while index < len(words):
        arity = ARITY[words[index]]
        commands.append(words[index : index + 1 + arity])
        index += 1 + arity
    return commands


def _resp(*words: str) -> bytes:
    encoded = [word.encode() for word in words]
    return b"*%d\r\n" % len(encoded) + b"".join(
        b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded
    )


def _read_lines(conn: socket.socket, count: int) -> list[bytes]:
    buffer = b""
    while buffer.count(b"\r\n") < count:
        chunk = conn.recv(4096)
        if not chunk:
            raise OSError("connection closed")
        buffer += chunk
    return buffer.split(b"\r\n")[:count]
