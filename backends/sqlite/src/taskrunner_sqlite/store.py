"""The backend's connection to its file, used from one thread of its own.

sqlite3 calls block, so every call runs on the store's thread: a whole transaction (a few
statements and the logic between them) is one hop from the event loop, not one per
statement. State changes run in `BEGIN IMMEDIATE`: the write lock is taken at the start,
so of two processes one waits (up to `busy_timeout`, in short steps: `locks`) instead of
failing half-way, and the time of the change (`now`) is read once the lock is held. The
writes that arrive while the thread is busy are committed together (`commits.GroupCommit`),
each in a savepoint of its own; SQLite keeps a savepoint's undo copy of each page it
changes in memory (`temp_store = MEMORY`), not in a temporary file, which multiplied the
bytes written by 8.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from taskrunner.errors import BackendError, ConfigurationError
from taskrunner_sqlite.commits import GroupCommit
from taskrunner_sqlite.errors import DATABASE_ERRORS, NOT_CONNECTED, database_error
from taskrunner_sqlite.judge import judge
from taskrunner_sqlite.locks import when_free
from taskrunner_sqlite.settings import SqliteSettings
from taskrunner_sqlite.settle import settle

T = TypeVar("T")
Work = Callable[[sqlite3.Connection, float], T]


def open_connection(path: Path, settings: SqliteSettings) -> sqlite3.Connection:
    """A connection in WAL mode with the settings' busy timeout and durability, in
    autocommit mode (transactions are begun explicitly), its temporary data in memory."""
    conn = sqlite3.connect(
        path,
        timeout=settings.busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=256,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(settings.busy_timeout * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise ConfigurationError(f"{path}: SQLite could not switch to WAL mode ({mode})")
        conn.execute(f"PRAGMA synchronous = {settings.synchronous.upper()}")
        conn.execute("PRAGMA temp_store = MEMORY")
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteStore:
    """One connection (None until `open()`) and the thread that uses it."""

    def __init__(self, path: Path, settings: SqliteSettings) -> None:
        self.path = path
        self.settings = settings
        self.conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._commits = GroupCommit(self.error, settings.busy_timeout)

    def error(self, what: str, exc: BaseException) -> BackendError:
        return database_error(self.path, what, exc)

    async def open(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="taskrunner-sqlite")
        self.conn = await self._call("opening the file", self._connect)

    def _connect(self) -> sqlite3.Connection:
        conn = open_connection(self.path, self.settings)
        conn.execute("PRAGMA busy_timeout = 0")  # its waits are `when_free`'s
        return conn

    async def close(self) -> None:
        conn, thread = self.conn, self._thread
        self.conn, self._thread = None, None
        if thread is None:
            return
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(thread, conn.close)
        thread.shutdown(wait=False)

    def _require(self) -> tuple[sqlite3.Connection, ThreadPoolExecutor]:
        if self.conn is None or self._thread is None:
            raise ConfigurationError(NOT_CONNECTED)
        return self.conn, self._thread

    async def _call(self, what: str, work: Callable[[], T]) -> T:
        if self._thread is None:
            raise ConfigurationError(NOT_CONNECTED)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, work)
        except DATABASE_ERRORS as exc:
            raise self.error(what, exc) from exc

    async def write(self, what: str, work: Work[T]) -> T:
        """Run `work(conn, now)` in a `BEGIN IMMEDIATE` transaction (shared with the writes
        that queued with it, see `commits`), committed if it returns and rolled back if it
        raises; the dependents and batches its changes call for are judged and settled
        (`settled`) in the same transaction."""
        conn, thread = self._require()
        answer: T = await self._commits.write(conn, thread, what, settled(work))
        return answer

    async def read(self, what: str, work: Work[T]) -> T:
        """Run `work(conn, now)` in one read transaction (a consistent snapshot), tried
        again if another process held a lock it needed (rare in WAL mode: a recovery)."""
        conn, _ = self._require()
        timeout = self.settings.busy_timeout
        return await self._call(
            what, lambda: when_free(lambda: transaction(conn, work, "BEGIN"), timeout)
        )


def settled(work: Work[T]) -> Work[T]:
    """`work`, followed by the judging of the jobs waiting on those it ended (`judge`) and
    the settling of the batches it left unsettled (`settle`)."""

    def run(conn: sqlite3.Connection, now: float) -> T:
        answer = work(conn, now)
        judge(conn, now)
        settle(conn, now)
        return answer

    return run


def transaction(conn: sqlite3.Connection, work: Work[T], begin: str = "BEGIN IMMEDIATE") -> T:
    """`work(conn, now)` inside `begin` ... COMMIT, on the calling thread; `now` is read
    once the transaction holds its lock."""
    conn.execute(begin)
    try:
        answer = work(conn, time.time())
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return answer
