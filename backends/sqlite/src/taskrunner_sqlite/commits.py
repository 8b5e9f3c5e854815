"""Group commit: the writes that arrive while the store's thread is busy share one
transaction, and so one durable commit.

Each write still runs alone in its own savepoint, with its own `now` read under the write
lock, and its caller hears back only once the shared `COMMIT` has returned: a write is
as durable, and as isolated from its neighbours' failures, as when it had a transaction of
its own. A write that raises is rolled back to its savepoint and fails alone; a failure
that ends the transaction itself (the lock not granted in `busy_timeout`, the disk full, the
commit refused) fails every write of the group, none of which is then stored.

What it saves: a worker's claim and the completions its last jobs sent, or the enqueues of
concurrent requests, commit once instead of once each, and a commit (its flush to disk) is
most of what a small write costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from taskrunner.errors import ConfigurationError
from taskrunner_sqlite.errors import DATABASE_ERRORS, NOT_CONNECTED
from taskrunner_sqlite.locks import when_free

Work = Callable[[sqlite3.Connection, float], Any]
ToError = Callable[[str, BaseException], BaseException]


@dataclass(slots=True)
class Write:
    """One caller's write: what it does (for its error), the work, and where its answer
    goes."""

    what: str
    work: Work
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop = field(init=False)

    def __post_init__(self) -> None:
        self.loop = self.future.get_loop()

    def answer(self, value: Any) -> None:
        self._tell(value, None)

    def fail(self, error: BaseException) -> None:
        self._tell(None, error)

    def _tell(self, value: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits
            self.loop.call_soon_threadsafe(_resolve, self.future, value, error)


def _resolve(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # its caller was cancelled; the write happened all the same
        return
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


class GroupCommit:
    """The writes waiting for the store's thread, run there a group at a time."""

    def __init__(self, to_error: ToError, busy_timeout: float) -> None:
        self._to_error = to_error
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._waiting: list[Write] = []
        self._scheduled = False

    async def write(
        self, conn: sqlite3.Connection, thread: ThreadPoolExecutor, what: str, work: Work
    ) -> Any:
        """Run `work(conn, now)` in the next group's transaction; answers what it returns
        once the group committed."""
        pending = Write(what, work, asyncio.get_running_loop().create_future())
        with self._lock:
            self._waiting.append(pending)
            start, self._scheduled = not self._scheduled, True
        if start:
            try:
                thread.submit(self._run, conn)
            except RuntimeError:  # the store was closed meanwhile
                self._fail_waiting(ConfigurationError(NOT_CONNECTED))
        return await pending.future

    def _fail_waiting(self, error: BaseException) -> None:
        with self._lock:
            group, self._waiting, self._scheduled = self._waiting, [], False
        for pending in group:
            pending.fail(error)

    def _run(self, conn: sqlite3.Connection) -> None:
        """On the store's thread: take every write waiting now and commit them together."""
        with self._lock:
            group, self._waiting, self._scheduled = self._waiting, [], False
        try:
            answers = run_group(conn, group, self._busy_timeout)
        except BaseException as exc:  # the transaction failed: nothing of the group is stored
            answers = [(None, exc)] * len(group)
        for pending, (value, error) in zip(group, answers, strict=True):
            if error is None:
                pending.answer(value)
            elif isinstance(error, DATABASE_ERRORS):
                pending.fail(self._to_error(pending.what, error))
            else:
                pending.fail(error)


Answer = tuple[Any, BaseException | None]


def run_group(conn: sqlite3.Connection, group: list[Write], busy_timeout: float) -> list[Answer]:
    """Each write of `group` in a savepoint of one `BEGIN IMMEDIATE` transaction (its lock
    waited for up to `busy_timeout` seconds, see `locks`), then one COMMIT; answers each
    write's value or error. Raises, with nothing stored, if the transaction itself fails."""
    when_free(lambda: conn.execute("BEGIN IMMEDIATE"), busy_timeout)
    try:
        answers = [_in_savepoint(conn, pending.work) for pending in group]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return answers


def _in_savepoint(conn: sqlite3.Connection, work: Work) -> Answer:
    conn.execute("SAVEPOINT write")
    try:
        value = work(conn, time.time())
    except Exception as exc:
        if not conn.in_transaction:
            raise  # SQLite ended the whole transaction: no write of the group is stored
        conn.execute("ROLLBACK TO write")
        conn.execute("RELEASE write")
        return None, exc
    conn.execute("RELEASE write")
    return value, None
