"""Waking idle waiters when any process writes to the file, without a server to notify.

SQLite has no LISTEN/NOTIFY. While someone in this process waits (an idle worker, a caller
awaiting a result, a cancel listener), the `Watcher` reads `PRAGMA data_version` on a
connection of its own every `poll` seconds: the number changes whenever another connection
commits to the file, and reading it touches only the WAL index in shared memory (no disk
read, no lock held), so it runs on the event loop. A change wakes every waiter, which then
checks what it waits for with one read. Writes made through this process's backend wake its
waiters at once (`changed()`), without waiting for the next poll. Nobody waiting: no polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from taskrunner.backend import Fanout, within
from taskrunner.errors import BackendError
from taskrunner_sqlite.reads import cancel_requests
from taskrunner_sqlite.settings import SqliteSettings
from taskrunner_sqlite.store import SqliteStore, open_connection

T = TypeVar("T")


def watch_connection(path: Path, settings: SqliteSettings) -> sqlite3.Connection:
    """The watcher's connection: it never waits for a lock (its reads run on the event
    loop); a busy file reads as a change, and the waiters look for themselves."""
    conn = open_connection(path, settings)
    conn.execute("PRAGMA busy_timeout = 0")
    return conn


class Watcher:
    """The change signal of one database file, for this process's waiters."""

    def __init__(self, poll: float) -> None:
        self.poll = poll
        self.conn: sqlite3.Connection | None = None
        self._event = asyncio.Event()
        self._watching = 0
        self._task: asyncio.Task[None] | None = None
        self._version: int | None = None

    def changed(self) -> None:
        """Wake every waiter: something may have changed."""
        event, self._event = self._event, asyncio.Event()
        event.set()

    def signal(self) -> asyncio.Event:
        """The event the next change sets; take it before reading what you wait for."""
        return self._event

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Polls for other processes' writes while the block runs."""
        loop = asyncio.get_running_loop()
        if self._watching == 0:
            self._event = asyncio.Event()  # no waiter holds the old one (maybe another loop's)
        self._watching += 1
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._poll(), name="taskrunner-sqlite-watch")
            # a loop thrown away with its tasks pending (not closed as asyncio.run does) leaves
            # this one to the garbage collector: nothing is lost then, and the error asyncio
            # would log, from wherever the collection runs, is only noise (CPython 3.11 even
            # fails a compile() it interrupts that way)
            self._task._log_destroy_pending = False  # type: ignore[attr-defined]
        try:
            yield
        finally:
            self._watching -= 1

    async def _poll(self) -> None:
        while self._watching > 0 and self.conn is not None:
            try:
                (version,) = self.conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                version = None  # busy or closing: wake the waiters, who read and see
            if version != self._version or version is None:
                self._version = version
                self.changed()
            await asyncio.sleep(self.poll)
        if self._task is asyncio.current_task():
            self._task = None

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.conn is not None:
            self.conn.close()
            self.conn = None


async def until_signal(event: asyncio.Event, timeout: float) -> None:
    """Return once `event` is set or after `timeout` seconds."""
    await within(event.wait(), timeout)


async def watch_until(
    watcher: Watcher, check: Callable[[], Awaitable[tuple[bool, T]]], timeout: float
) -> T | None:
    """The answer of `check()` once it says it is done, read again at each change the
    watcher signals; None if that takes longer than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    async with watcher.watching():
        while True:
            signal = watcher.signal()
            done, answer = await check()
            if done:
                return answer
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            await until_signal(signal, left)


class CancelListener:
    """Cancel requests for this process's listeners (`CancelSignals`), read from the
    `cancel_log` table whenever the watcher signals a change: at once for requests made
    through this backend (its `cancel` signals the watcher), at the next poll for those of
    other processes."""

    def __init__(self, store: SqliteStore, watcher: Watcher) -> None:
        self._store = store
        self._watcher = watcher
        self._fanout = Fanout()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def inbox(self) -> AsyncIterator[AsyncIterator[list[str]]]:
        async with self._fanout.inbox() as inbox:
            self._listeners += 1
            if self._task is None or self._task.done():
                last, _ = await self._store.read(
                    "reading cancel requests", lambda conn, now: cancel_requests(conn, now, None)
                )
                self._task = asyncio.create_task(
                    self._forward(last), name="taskrunner-sqlite-cancels"
                )
            try:
                yield inbox
            finally:
                self._listeners -= 1
                if not self._listeners and self._task is not None:
                    self._task.cancel()
                    self._task = None

    async def _forward(self, last: int) -> None:
        async with self._watcher.watching():
            while True:
                signal = self._watcher.signal()
                try:
                    last, asked = await self._store.read(
                        "reading cancel requests",
                        functools.partial(cancel_requests, after=last),
                    )
                except BackendError:
                    asked = []  # the heartbeat still catches what this misses
                if asked:
                    self._fanout.publish(asked)
                await signal.wait()
