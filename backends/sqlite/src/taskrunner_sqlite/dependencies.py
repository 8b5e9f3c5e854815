"""Dependencies on SQLite (see `taskrunner.backend.Dependencies`): a job stored with `after`
waits in the `waits` table (`jobs.wait_on`, judged as it is stored) until every write that
ends one of its dependencies judges it before it commits (`judge`); here, the reads."""

from __future__ import annotations

import sqlite3

from taskrunner_sqlite.queries import sql
from taskrunner_sqlite.store import SqliteStore


class SqliteDependencies:
    """The `Dependencies` ability of `SqliteBackend`, on its store."""

    _store: SqliteStore

    async def dependents(self, job_id: str, limit: int = 100) -> list[str]:
        def read(conn: sqlite3.Connection, now: float) -> list[str]:
            return [waiting for (waiting,) in conn.execute(sql("dependents"), (job_id, limit))]

        return await self._store.read("reading a job's dependents", read)
