"""`SqliteBackend`: the backend protocol over one SQLite file that several processes of one
machine share.

Every state change is one short `BEGIN IMMEDIATE` transaction run on the store's thread
(`store`), with the logic in Python (`jobs`, `claim`, `tidy`); every time is the system
clock of the machine, which all the processes share, read once the write lock is held.
Errors of SQLite are raised as `BackendError` (the worker retries them); the caller's own
connection, given for a transactional enqueue, raises sqlite3's errors untouched.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from taskrunner.backend import (
    Backend,
    Batches,
    Beat,
    CancelSignals,
    Dependencies,
    HasUrl,
    Inspection,
    JobDeletion,
    JobRecord,
    JobState,
    LeaseStatus,
    Migrations,
    NewJob,
    Outcome,
    QueuePausing,
    TaskRegistry,
    TransactionalEnqueue,
    redact,
)
from taskrunner.errors import ConfigurationError
from taskrunner_sqlite import jobs, reads, tidy
from taskrunner_sqlite.batches import SqliteBatches
from taskrunner_sqlite.claim import claim
from taskrunner_sqlite.dependencies import SqliteDependencies
from taskrunner_sqlite.errors import DATABASE_ERRORS
from taskrunner_sqlite.inspection import SqliteInspection
from taskrunner_sqlite.listen import (
    CancelListener,
    Watcher,
    until_signal,
    watch_connection,
    watch_until,
)
from taskrunner_sqlite.migrate import apply_migrations, pending_migrations
from taskrunner_sqlite.pausing import SqlitePausing
from taskrunner_sqlite.registry import SqliteRegistry
from taskrunner_sqlite.settings import parse_url, refuse_network_file_system
from taskrunner_sqlite.store import SqliteStore, open_connection, transaction


class SqliteBackend(
    SqliteInspection, SqlitePausing, SqliteBatches, SqliteDependencies, SqliteRegistry
):
    """Jobs in a SQLite file in WAL mode, shared by the processes of one machine.

    `url` is a `sqlite:///relative/path.db` or `sqlite:////absolute/path.db` URL; its query
    string may set `busy_timeout`, `synchronous`, `poll` and `migrate` (see
    `SqliteSettings`).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.path, self.settings = parse_url(url)
        self._store = SqliteStore(self.path, self.settings)
        self._watcher = Watcher(self.settings.poll)
        self._cancels = CancelListener(self._store, self._watcher)

    def __repr__(self) -> str:
        return f"SqliteBackend({redact(self.url)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the file (refusing one on a network file system) and apply pending
        migrations (unless `migrate` is off: then a file that lacks them is an error)."""
        if self._store.conn is not None:
            return
        if not self.path.parent.is_dir():
            raise ConfigurationError(
                f"{self.path.parent} does not exist: create the folder of the SQLite file"
            )
        refuse_network_file_system(self.path)
        await self._store.open()
        try:
            await self._store.write("migrating the file", self._prepare)
            self._watcher.conn = await asyncio.to_thread(watch_connection, self.path, self.settings)
        except BaseException:
            await self._store.close()
            raise

    def _prepare(self, conn: sqlite3.Connection, now: float) -> None:
        if self.settings.migrate:
            apply_migrations(conn, now)
            return
        missing = pending_migrations(conn)
        if missing:
            names = ", ".join(m.label for m in missing)
            raise ConfigurationError(
                f"{self.path} lacks migrations ({names}); run `taskrunner migrate --url ...` "
                "or leave migrate on"
            )

    async def migrate(self) -> list[str]:
        """Apply pending migrations now; answers their names (empty: already up to date)."""

        def run() -> list[str]:
            conn = open_connection(self.path, self.settings)
            try:
                return [m.label for m in transaction(conn, apply_migrations)]
            finally:
                conn.close()

        try:
            return await asyncio.to_thread(run)
        except DATABASE_ERRORS as exc:
            raise self._store.error("migrating the file", exc) from exc

    async def close(self) -> None:
        await self._watcher.close()
        await self._store.close()

    async def now(self) -> float:
        return time.time()

    # -- the protocol ----------------------------------------------------------------------

    async def enqueue(self, jobs_: Sequence[NewJob], connection: Any = None) -> list[str]:
        if connection is not None:
            return await self.enqueue_in_transaction(jobs_, connection)
        ids = await self._store.write("enqueueing", lambda c, now: jobs.enqueue(c, now, jobs_))
        self._watcher.changed()
        return ids

    async def enqueue_in_transaction(self, jobs_: Sequence[NewJob], connection: Any) -> list[str]:
        """Store jobs on the caller's `sqlite3.Connection` to the same file, in its open
        transaction (begin it with `BEGIN IMMEDIATE`); they exist once it commits, and
        waiting workers see them at their next poll."""
        if not isinstance(connection, sqlite3.Connection):
            raise ConfigurationError(
                "the SQLite backend enqueues inside a transaction of a sqlite3.Connection, "
                f"got {type(connection).__name__}"
            )
        self._check_same_file(connection)
        return jobs.enqueue(connection, time.time(), jobs_)

    def _check_same_file(self, connection: sqlite3.Connection) -> None:
        files = {name: path for _, name, path in connection.execute("PRAGMA database_list")}
        given = files.get("main") or ""
        if not given or not os.path.samefile(given, self.path):
            raise ConfigurationError(
                f"the connection is to {given or 'an in-memory database'!r}, not to the "
                f"backend's file {str(self.path)!r}"
            )

    async def claim(
        self, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        return await self._store.write(
            "claiming", lambda c, now: claim(c, now, queues, limit, worker, lease)
        )

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        return await self._store.write(
            "heartbeat", lambda c, now: jobs.heartbeat(c, now, beats, lease)
        )

    async def finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        done = await self._store.write("finishing", lambda c, now: jobs.finish(c, now, outcomes))
        self._watcher.changed()
        return done

    async def get(self, ids: Sequence[str]) -> list[JobRecord | None]:
        return await self._store.read("reading jobs", lambda c, now: reads.get(c, now, ids))

    async def cancel(self, ids: Sequence[str], ttl: float | None) -> list[JobState | None]:
        states = await self._store.write("cancelling", lambda c, now: jobs.cancel(c, now, ids, ttl))
        self._watcher.changed()  # wakes this process's cancel listeners too
        return states

    async def retry(self, ids: Sequence[str]) -> list[bool]:
        done = await self._store.write("retrying", lambda c, now: jobs.retry(c, now, ids))
        self._watcher.changed()
        return done

    async def reclaim(self) -> list[str]:
        batch = self.settings.prune_batch
        put_back = await self._store.write("reclaiming", lambda c, now: tidy.reclaim(c, now, batch))
        if put_back:
            self._watcher.changed()
        return put_back

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with self._watcher.watching():
            while True:
                signal = self._watcher.signal()
                due = await self._store.read(
                    "waiting for jobs", lambda c, now: reads.next_due(c, now, queues)
                )
                left = deadline - time.monotonic()
                if due == 0.0 or left <= 0:
                    return
                await until_signal(signal, left if due is None else min(left, due))

    async def wait_finished(self, job_id: str, timeout: float) -> JobRecord | None:
        async def check() -> tuple[bool, JobRecord | None]:
            (record,) = await self.get([job_id])
            return record is None or record.state.finished, record

        return await watch_until(self._watcher, check, timeout)

    async def stats(self, queues: Sequence[str] | None = None) -> dict[str, dict[JobState, int]]:
        return await self._store.read("counting jobs", lambda c, now: reads.stats(c, now, queues))

    async def purge(
        self,
        states: Sequence[JobState],
        finished_before: float | None = None,
        queue: str | None = None,
    ) -> int:
        return await self._store.write(
            "purging", lambda c, now: tidy.purge(c, now, states, finished_before, queue)
        )

    async def delete(self, ids: Sequence[str]) -> list[bool]:
        return await self._store.write("deleting jobs", lambda c, now: tidy.delete(c, now, ids))

    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        """Listen for cancel requests of running jobs (see `CancelSignals`): this process's
        at once, other processes' at the next poll."""
        return self._cancels.inbox()


if TYPE_CHECKING:
    _conforms: type[Backend] = SqliteBackend
    _inspects: type[Inspection] = SqliteBackend
    _signals: type[CancelSignals] = SqliteBackend
    _transactional: type[TransactionalEnqueue] = SqliteBackend
    _migrates: type[Migrations] = SqliteBackend
    _pauses: type[QueuePausing] = SqliteBackend
    _batches: type[Batches] = SqliteBackend
    _depends: type[Dependencies] = SqliteBackend
    _deletes: type[JobDeletion] = SqliteBackend
    _shows: type[HasUrl] = SqliteBackend
    _registry: type[TaskRegistry] = SqliteBackend
