"""The task registry on SQLite (see `taskrunner.backend.TaskRegistry`): a row of the
`task_specs` table per task (migrations/0004_task_registry.sql), which workers write when
they start and code without the tasks' Python (the CLI, the dashboard's HTTP door) reads."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence

from taskrunner_sqlite.queries import sql
from taskrunner_sqlite.store import SqliteStore


class SqliteRegistry:
    """The `TaskRegistry` ability of `SqliteBackend`, on its store."""

    _store: SqliteStore

    async def publish_tasks(self, specs: Mapping[str, bytes]) -> None:
        if not specs:
            return

        def write(conn: sqlite3.Connection, now: float) -> None:
            rows = [(name, bytes(specs[name]), now) for name in sorted(specs)]
            conn.executemany(sql("publish_tasks"), rows)

        await self._store.write("publishing task specs", write)

    async def task_specs(self, names: Sequence[str] | None = None) -> dict[str, bytes]:
        if names is not None and not names:
            return {}
        wanted = None if names is None else json.dumps(list(names))

        def read(conn: sqlite3.Connection, now: float) -> dict[str, bytes]:
            rows = conn.execute(sql("task_specs"), (wanted,))
            return {name: bytes(spec) for name, spec in rows}

        return await self._store.read("reading task specs", read)
