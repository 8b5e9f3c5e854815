"""Settings of the SQLite backend, read from the URL as SQLAlchemy reads it.

`sqlite:///relative/jobs.db` (three slashes: a path relative to the working directory),
`sqlite:////srv/app/jobs.db` (four: an absolute path), options in the query string:
`?busy_timeout=5&synchronous=full&poll=0.002&migrate=true`.

A database only one process can see is refused: `:memory:`, an empty path, `mode=memory`
(use `memory://`), and, on Linux, a file on a network file system (SQLite's locks and WAL
need one machine's shared memory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from taskrunner.backend import check_url, parse_flag, redact
from taskrunner.errors import ConfigurationError

SYNCHRONOUS = ("full", "normal", "extra")
# file systems whose locking SQLite's WAL mode cannot rely on (as /proc/mounts names them)
NETWORK_FILE_SYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs",
     "fuse.sshfs", "fuse.glusterfs", "fuse.cephfs", "lustre", "gpfs", "virtiofs"}
)  # fmt: skip
MOUNTS = Path("/proc/mounts")


@dataclass(frozen=True, slots=True)
class SqliteSettings:
    """How the backend uses its database file.

    `busy_timeout`: seconds a statement waits for another process's write lock before it
    fails. `synchronous`: SQLite's `PRAGMA synchronous` in WAL mode (`full`: every commit
    is on disk when it returns; `normal`: a power cut may lose the last commits, a crashed
    process never does). `poll`: how often an idle waiter checks whether another process
    wrote to the file (`PRAGMA data_version`, a read of shared memory). `migrate`: apply
    pending migrations in `connect()`. `prune_batch`: rows deleted per statement by
    `reclaim()`.
    """

    busy_timeout: float = 10.0
    synchronous: str = "full"
    poll: float = 0.002
    migrate: bool = True
    prune_batch: int = 1000

    def __post_init__(self) -> None:
        if self.synchronous not in SYNCHRONOUS:
            raise ConfigurationError(
                f"synchronous={self.synchronous!r} is not allowed: use one of "
                f"{', '.join(SYNCHRONOUS)}"
            )
        for name in ("busy_timeout", "poll"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < 3600:
                raise ConfigurationError(f"{name} must be a number of seconds in (0, 3600)")
        if self.prune_batch < 1:
            raise ConfigurationError("prune_batch must be at least 1")


def _number(name: str, value: str, url: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} in {redact(url)} must be a number") from None


def _options(url: str, query: str) -> SqliteSettings:
    given: dict[str, object] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in ("busy_timeout", "poll"):
            given[name] = _number(name, value, url)
        elif name == "synchronous":
            given[name] = value.lower()
        elif name == "migrate":
            flag = parse_flag(value)
            if flag is None:
                raise ConfigurationError(
                    f"migrate={value!r} in {redact(url)} must be true or false"
                )
            given[name] = flag
        elif name == "mode" and value == "memory":
            raise _in_memory(url)
        else:
            raise ConfigurationError(
                f"unknown option {name!r} in {redact(url)}; the SQLite backend takes "
                "busy_timeout, synchronous, poll and migrate"
            )
    return SqliteSettings(**given)  # type: ignore[arg-type]


def _in_memory(url: str) -> ConfigurationError:
    return ConfigurationError(
        f"{url!r} names an in-memory SQLite database, which only one process can see; "
        "use memory:// for one process, or a file (sqlite:///jobs.db) to share jobs "
        "between processes"
    )


def parse_url(url: str) -> tuple[Path, SqliteSettings]:
    """The database file's path (absolute) and the settings of a `sqlite://` URL."""
    try:
        parts = urlsplit(check_url(url))
    except ValueError:
        raise ConfigurationError(f"cannot parse the SQLite URL {redact(url)!r}") from None
    if parts.scheme.lower() != "sqlite":
        raise ConfigurationError(f"the SQLite backend takes sqlite:// URLs, got {redact(url)!r}")
    if parts.netloc:
        raise ConfigurationError(
            f"{redact(url)!r} names a host; SQLite URLs have none: sqlite:///relative/jobs.db "
            "or sqlite:////absolute/jobs.db"
        )
    path = unquote(parts.path[1:])  # as SQLAlchemy: what follows the third slash
    if path in ("", ":memory:") or path.startswith("file::memory:"):
        raise _in_memory(url)
    settings = _options(url, parts.query)
    return Path(os.path.abspath(path)), settings


def file_system_of(path: Path, mounts: str | None = None) -> str | None:
    """The type of the file system `path` lies on, from /proc/mounts (None if unknown:
    not Linux, or no mount found)."""
    if mounts is None:
        try:
            mounts = MOUNTS.read_text()
        except OSError:
            return None
    best, kind = "", None
    target = str(path)
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def refuse_network_file_system(path: Path, mounts: str | None = None) -> None:
    """ConfigurationError if the database's folder is on a network file system."""
    kind = file_system_of(path.parent.resolve(), mounts)
    if kind in NETWORK_FILE_SYSTEMS:
        raise ConfigurationError(
            f"{path} is on a network file system ({kind}); SQLite's locks and WAL mode need "
            "one machine's disk: put the file on a local disk, or use Redis or Postgres to "
            "share jobs between machines"
        )
