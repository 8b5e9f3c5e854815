"""The interface each adapter implements for its library."""

from __future__ import annotations

import asyncio
from typing import Protocol


class Unsupported(Exception):
    """The library has no API for what a workload needs; the figure is reported as n/a."""


async def require(lib: object, unavailable: str, lacking: str) -> None:
    """Raise `Unsupported` unless `lib` has the ability whose method `unavailable` answers
    why it cannot run (None: it can); `lacking` says what a library without it has not."""
    why_not = getattr(lib, unavailable, None)
    if why_not is None:
        raise Unsupported(f"{getattr(lib, 'name', lib)} {lacking}")
    reason = await why_not()
    if reason is not None:
        raise Unsupported(reason)


class Library(Protocol):
    """One job library on one backend, seen from the enqueuing side and the worker side.

    Every job takes one int argument, `seq`. Tasks are named `noop`, `sleep` and `stamp`
    and call the bodies in `kit.probe`.
    """

    name: str
    in_process: bool
    """True when the worker must run in the enqueuing process (the memory backend)."""

    def unavailable(self) -> str | None:
        """Why this library cannot run on the spec's backend here, or None."""

    async def open(self) -> None:
        """Connect the enqueuing side and create whatever schema the library needs."""

    async def close(self) -> None:
        """Disconnect the enqueuing side."""

    async def enqueue(self, task: str, seq: int, delay: float = 0.0) -> None:
        """Enqueue one job and wait for the library to confirm it is stored."""

    async def enqueue_batch(self, task: str, seqs: range) -> None:
        """Enqueue many jobs through the library's bulk API; raise Unsupported without one."""

    async def unfinished(self) -> int:
        """How many jobs the library's own store holds as queued or running."""

    async def serve(self, concurrency: int, stop: asyncio.Event) -> None:
        """Run the library's worker until `stop` is set, then shut it down gracefully."""
