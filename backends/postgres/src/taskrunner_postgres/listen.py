"""Wake-ups by LISTEN/NOTIFY on one dedicated connection, re-established when it drops.

Three channels per schema: `<schema>.queued` carries the name of a queue where a job may have
become due, `<schema>.finished` the id of a job that just finished, `<schema>.cancel` the id
of a running job someone asked to stop. The finished channel is only listened to while someone
waits for a job, so workers are not sent every finished id; the cancel channel only while a
worker listens for cancel requests, so a web process is not sent them.

While the connection is down, `healthy` is False and callers fall back to polling; every
waiter is woken when the connection is lost or comes back, since notifications sent in
between are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import asyncpg

from taskrunner.backend import Fanout, Inbox, redact, within
from taskrunner_postgres.queries import Queries
from taskrunner_postgres.settings import PostgresSettings

log = logging.getLogger("taskrunner.postgres")
T = TypeVar("T")

HEALTH_INTERVAL = 10.0  # seconds between pings of an idle listening connection
FINISHED_LINGER = 30.0  # keep listening for finished jobs this long after the last waiter


class Listener:
    """The LISTEN connection of one backend, and the futures of those waiting on it."""

    def __init__(
        self,
        dsn: str,
        url: str,
        settings: PostgresSettings,
        queries: Queries,
        server_settings: dict[str, str],
    ) -> None:
        self._dsn = dsn
        self._server_settings = server_settings
        self._url = url
        self._settings = settings
        self._queries = queries
        self._queue_waiters: dict[asyncio.Future[None], frozenset[str]] = {}
        self._finish_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._tried = asyncio.Event()
        self._lost = asyncio.Event()
        self._listening_finished = False
        self._finish_idle_since: float | None = None
        self._cancel_requests = Fanout()
        self._listening_cancels = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def healthy(self) -> bool:
        """True while the connection is up and listening."""
        return self._ready.is_set()

    async def start(self) -> None:
        """Start listening (once); returns after the first connection attempt ended."""
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._supervise(), name="taskrunner-pg-listener")
        await within(self._tried.wait(), self._settings.connect_timeout)

    async def close(self) -> None:
        """Stop listening and close the connection."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._wake_all()

    # -- waiting -----------------------------------------------------------------------------

    def watch_queues(self, queues: Iterable[str]) -> asyncio.Future[None]:
        """A future resolved when a job may have become due on one of `queues`."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue_waiters[future] = frozenset(queues)
        return future

    def unwatch_queues(self, future: asyncio.Future[None]) -> None:
        self._queue_waiters.pop(future, None)

    async def watch_finished(self, job_id: str) -> asyncio.Future[None]:
        """A future resolved when the job may have finished. Once this returns, a finish
        that commits is notified (if the connection is healthy): check the row after."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finish_waiters.setdefault(job_id, []).append(future)
        self._finish_idle_since = None
        if not self._listening_finished:
            async with self._lock:
                if self._ready.is_set():
                    await self._listen_finished()
        return future

    async def wait_finished(
        self, name: str, timeout: float, check: Callable[[], Awaitable[tuple[bool, T | None]]]
    ) -> T | None:
        """Wait up to `timeout` seconds until `check()` answers (True, value), and answer that
        value (None on timeout). `check` runs at once and again each time `name` (a job's or a
        batch's id) is heard on the finished channel, or every `poll` seconds while the
        connection is down."""
        await self.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            woken = await self.watch_finished(name)
            try:
                done, value = await check()
                if done:
                    return value
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                limit = remaining if self.healthy else min(remaining, self._settings.poll)
                await asyncio.wait({woken}, timeout=limit)
                if not woken.done() and loop.time() >= deadline:
                    return None
            finally:
                self.unwatch_finished(name, woken)

    def unwatch_finished(self, job_id: str, future: asyncio.Future[None]) -> None:
        waiters = self._finish_waiters.get(job_id)
        if waiters is not None:
            with contextlib.suppress(ValueError):
                waiters.remove(future)
            if not waiters:
                del self._finish_waiters[job_id]
        if not self._finish_waiters:
            self._finish_idle_since = asyncio.get_running_loop().time()

    @contextlib.asynccontextmanager
    async def cancel_requests(self) -> AsyncIterator[Inbox]:
        """An inbox of the ids of running jobs asked to stop while the block runs. While the
        connection is down, requests are missed (the workers' heartbeats catch them)."""
        async with self._cancel_requests.inbox() as inbox:
            await self.start()
            if not self._listening_cancels:
                async with self._lock:
                    if self._ready.is_set():
                        await self._listen_cancels()
            yield inbox

    # -- notifications -----------------------------------------------------------------------

    def _on_queued(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        for future, queues in list(self._queue_waiters.items()):
            if payload in queues and not future.done():
                future.set_result(None)

    def _on_finished(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        for future in self._finish_waiters.get(str(payload), ()):
            if not future.done():
                future.set_result(None)

    def _on_cancel(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        self._cancel_requests.publish([str(payload)])

    def _wake_all(self) -> None:
        futures = list(self._queue_waiters)
        futures += [f for waiters in self._finish_waiters.values() for f in waiters]
        for future in futures:
            if not future.done():
                future.set_result(None)

    # -- the connection ----------------------------------------------------------------------

    async def _listen_finished(self) -> None:
        if not self._listening_finished:
            self._listening_finished = await self._listen_more(
                self._settings.finished_channel, self._on_finished
            )

    async def _listen_cancels(self) -> None:
        if not self._listening_cancels:
            self._listening_cancels = await self._listen_more(
                self._settings.cancel_channel, self._on_cancel
            )

    async def _listen_more(self, channel: str, callback: Callable[..., None]) -> bool:
        """LISTEN on one more channel; False if that failed (the connection then counts as
        lost and is replaced)."""
        conn = self._conn
        if conn is None:
            return False
        try:
            await conn.add_listener(channel, callback)
            return True
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("LISTEN %s failed (%s); reconnecting", channel, type(exc).__name__)
            self._lost.set()
            return False

    async def _unlisten_finished_if_idle(self) -> None:
        idle_since, conn = self._finish_idle_since, self._conn
        loop_time = asyncio.get_running_loop().time()
        if (
            conn is not None
            and self._listening_finished
            and not self._finish_waiters
            and idle_since is not None
            and loop_time - idle_since >= FINISHED_LINGER
        ):
            await conn.remove_listener(self._settings.finished_channel, self._on_finished)
            self._listening_finished = False

    async def _unlisten_cancels_if_idle(self) -> None:
        conn = self._conn
        if conn is not None and self._listening_cancels and not self._cancel_requests.listened:
            await conn.remove_listener(self._settings.cancel_channel, self._on_cancel)
            self._listening_cancels = False

    async def _supervise(self) -> None:
        failures = 0
        while not self._closed:
            try:
                await self._connect()
                failures = 0
                await self._watch_health()
                log.warning(
                    "LISTEN connection to %s lost; reconnecting (polling meanwhile)",
                    redact(self._url),
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning(
                    "LISTEN connection to %s failed (%s: %s); polling until it is back",
                    redact(self._url),
                    type(exc).__name__,
                    exc,
                )
            finally:
                await self._disconnect()
                self._tried.set()
            delay = min(0.05 * 2 ** min(failures, 8), 5.0) * (0.5 + secrets.randbelow(500) / 1000)
            await asyncio.sleep(delay)

    async def _connect(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(
            self._dsn,
            timeout=self._settings.connect_timeout,
            server_settings=self._server_settings,
        )
        self._conn = conn
        conn.add_termination_listener(lambda _conn: self._lost.set())
        async with self._lock:
            await conn.add_listener(self._settings.queued_channel, self._on_queued)
            if self._finish_waiters:
                await self._listen_finished()
            if self._cancel_requests.listened:
                await self._listen_cancels()
            self._ready.set()
        self._tried.set()
        self._wake_all()  # what was notified while we were away is lost: re-check

    async def _watch_health(self) -> None:
        conn = self._conn
        assert conn is not None
        while not self._lost.is_set():
            await within(self._lost.wait(), HEALTH_INTERVAL)
            if self._lost.is_set() or conn.is_closed():
                return
            async with self._lock:
                await conn.fetchval(self._queries.ping, timeout=HEALTH_INTERVAL)
                await self._unlisten_finished_if_idle()
                await self._unlisten_cancels_if_idle()

    async def _disconnect(self) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        self._listening_finished = self._listening_cancels = False
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
        if was_ready:
            self._wake_all()  # waiters switch to polling
