"""Pausing queues (`QueuePausing`): the `paused` table, which every claim reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from taskrunner_sqlite.listen import Watcher
from taskrunner_sqlite.queries import sql
from taskrunner_sqlite.store import SqliteStore


class SqlitePausing:
    """Pause and resume, on the backend's store; resuming wakes this process's waiters
    at once and the others' at their next poll."""

    _store: SqliteStore
    _watcher: Watcher

    async def pause(self, queues: Sequence[str]) -> None:
        def write(conn: sqlite3.Connection, now: float) -> None:
            conn.executemany(sql("pause"), [(queue,) for queue in queues])

        await self._store.write("pausing queues", write)

    async def resume(self, queues: Sequence[str]) -> None:
        def write(conn: sqlite3.Connection, now: float) -> None:
            conn.executemany(sql("resume"), [(queue,) for queue in queues])

        await self._store.write("resuming queues", write)
        self._watcher.changed()

    async def paused(self) -> list[str]:
        def read(conn: sqlite3.Connection, now: float) -> list[str]:
            return [queue for (queue,) in conn.execute(sql("paused"))]

        return await self._store.read("reading paused queues", read)
