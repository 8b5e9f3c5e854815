"""Errors of Redis and of the network, told as `BackendError`s that name the server."""

from __future__ import annotations

from types import TracebackType

from redis.exceptions import ClusterError, OutOfMemoryError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from taskrunner.backend import redact
from taskrunner.errors import BackendError

# what the network, a cluster no node of which answers, or one that is down, raise
_UNREACHABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    RedisClusterException,
    ClusterError,
)


class Translated:
    """Turns a lost connection (or a cluster out of reach), or a write refused by a full
    Redis, into a BackendError that names the server (never its password). Used as
    `with Translated(url, "doing this"):`."""

    __slots__ = ("doing", "url")

    def __init__(self, url: str, doing: str) -> None:
        self.url, self.doing = url, doing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, _UNREACHABLE):
            raise BackendError(
                f"Redis at {redact(self.url)} failed while {self.doing}: {exc}"
            ) from exc
        if isinstance(exc, OutOfMemoryError):
            raise BackendError(
                f"Redis at {redact(self.url)} is full (used memory > maxmemory) and refused a "
                f"write while {self.doing}: raise maxmemory, purge finished jobs or let "
                f"workers drain the queues ({exc})"
            ) from exc
