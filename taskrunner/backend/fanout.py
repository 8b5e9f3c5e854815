"""Handing batches of job ids to every listener in this process (cancel requests, for one).

A backend receives each notification once (one subscription, one LISTEN connection) and
publishes its ids to a `Fanout`; each listener reads its own `Inbox`, which gathers what came
since its last read, so a listener that falls behind holds a set of ids, not a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable


class Inbox:
    """The ids published for one listener and not yet read; iterating waits for the next."""

    __slots__ = ("_ids", "_ready")

    def __init__(self) -> None:
        self._ids: dict[str, None] = {}  # an ordered set
        self._ready = asyncio.Event()

    def put(self, ids: Iterable[str]) -> None:
        """Add ids for the next read."""
        self._ids.update(dict.fromkeys(ids))
        if self._ids:
            self._ready.set()

    def __aiter__(self) -> Inbox:
        return self

    async def __anext__(self) -> list[str]:
        await self._ready.wait()
        self._ready.clear()
        ids, self._ids = list(self._ids), {}
        return ids


class Fanout:
    """The open inboxes of one kind of notification, in this process."""

    __slots__ = ("_inboxes",)

    def __init__(self) -> None:
        self._inboxes: set[Inbox] = set()

    @property
    def listened(self) -> bool:
        """Whether any inbox is open."""
        return bool(self._inboxes)

    def publish(self, ids: Iterable[str]) -> None:
        """Put `ids` in every open inbox."""
        batch = list(ids)
        for inbox in self._inboxes:
            inbox.put(batch)

    @contextlib.asynccontextmanager
    async def inbox(self) -> AsyncIterator[Inbox]:
        """An inbox that receives what is published while the block runs."""
        inbox = Inbox()
        self._inboxes.add(inbox)
        try:
            yield inbox
        finally:
            self._inboxes.discard(inbox)
