"""Batches on SQLite (see `taskrunner.backend.Batches`): a `batches` row per batch whose
counts the jobs' triggers keep (migrations/0002_batches.sql) and whose callbacks every
write settles before it commits (`settle`); here, the methods that open, close, read, wait
for and cancel them. Members join through `jobs.enqueue`, which refuses a batch that is
not open."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from taskrunner.backend import BatchRecord, NewBatch
from taskrunner_sqlite.jobs import cancel
from taskrunner_sqlite.listen import Watcher, watch_until
from taskrunner_sqlite.queries import sql
from taskrunner_sqlite.settle import batch_record, batch_row, encode, settle
from taskrunner_sqlite.store import SqliteStore


def read_batch(conn: sqlite3.Connection, now: float, batch_id: str) -> BatchRecord | None:
    row = batch_row(conn, batch_id, now)
    return None if row is None else batch_record(row)


class SqliteBatches:
    """The `Batches` ability of `SqliteBackend`, on its store."""

    _store: SqliteStore
    _watcher: Watcher

    async def open_batch(self, batch: NewBatch) -> None:
        def write(conn: sqlite3.Connection, now: float) -> None:
            args = (batch.id, now, encode(batch.on_success), encode(batch.on_complete))
            conn.execute(sql("open_batch"), args)

        await self._store.write("opening a batch", write)

    async def close_batch(self, batch_id: str, ttl: float | None) -> BatchRecord | None:
        def write(conn: sqlite3.Connection, now: float) -> BatchRecord | None:
            if batch_row(conn, batch_id, now) is None:
                return None
            conn.execute(sql("close_batch"), (ttl, batch_id))
            settle(conn, now)
            return batch_record(conn.execute(sql("get_batch"), (now, batch_id)).fetchone())

        record = await self._store.write("closing a batch", write)
        self._watcher.changed()  # its callbacks may be stored
        return record

    async def get_batches(self, ids: Sequence[str]) -> list[BatchRecord | None]:
        def read(conn: sqlite3.Connection, now: float) -> list[BatchRecord | None]:
            return [read_batch(conn, now, batch_id) for batch_id in ids]

        return await self._store.read("reading batches", read)

    async def list_batches(self, limit: int, before: str | None = None) -> list[BatchRecord]:
        def read(conn: sqlite3.Connection, now: float) -> list[BatchRecord]:
            ids = [row[0] for row in conn.execute(sql("list_batches"), (before, now, limit))]
            found = (read_batch(conn, now, batch_id) for batch_id in ids)
            return [record for record in found if record is not None]

        return await self._store.read("listing batches", read)

    async def batch_members(self, batch_id: str, limit: int, after: str | None = None) -> list[str]:
        def read(conn: sqlite3.Connection, now: float) -> list[str]:
            if batch_row(conn, batch_id, now) is None:
                return []
            rows = conn.execute(sql("batch_members"), (batch_id, after, limit))
            return [job_id for (job_id,) in rows]

        return await self._store.read("reading a batch's members", read)

    async def wait_batch(self, batch_id: str, timeout: float) -> BatchRecord | None:
        async def check() -> tuple[bool, BatchRecord | None]:
            (record,) = await self.get_batches([batch_id])
            return record is None or record.ended_at is not None, record

        return await watch_until(self._watcher, check, timeout)

    async def cancel_batch(self, batch_id: str, ttl: float | None) -> int:
        def write(conn: sqlite3.Connection, now: float) -> int:
            if batch_row(conn, batch_id, now) is None:
                return 0
            ids = [job_id for (job_id,) in conn.execute(sql("unstarted_members"), (batch_id,))]
            cancel(conn, now, ids, ttl)
            return len(ids)

        cancelled = await self._store.write("cancelling a batch", write)
        self._watcher.changed()
        return cancelled
