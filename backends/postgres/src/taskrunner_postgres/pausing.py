"""Pausing queues on Postgres (see `QueuePausing`): a queue is paused while it has a row in
`paused_queues` (migrations/0005_pause.sql), which the claim and next_due statements read."""

from __future__ import annotations

from collections.abc import Sequence

from taskrunner_postgres.queries import Queries
from taskrunner_postgres.store import PostgresStore


class PostgresPausing:
    """Pausing and resuming queues, on the same `PostgresStore` as the backend."""

    _queries: Queries
    _store: PostgresStore

    async def pause(self, queues: Sequence[str]) -> None:
        if queues:
            await self._store.fetch("pausing queues", self._queries.pause, list(queues), again=True)

    async def resume(self, queues: Sequence[str]) -> None:
        if queues:
            await self._store.fetch(
                "resuming queues", self._queries.resume, list(queues), again=True
            )

    async def paused(self) -> list[str]:
        rows = await self._store.fetch("reading paused queues", self._queries.paused, again=True)
        return sorted(row[0] for row in rows)
