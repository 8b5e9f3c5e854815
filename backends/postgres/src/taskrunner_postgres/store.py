"""The pool both `PostgresBackend` and its inspection run statements on: a connection found
dead is dropped (and the work run again where that is safe), and errors are told as
`BackendError`s that name the server.

The enqueue lane: one connection of the pool kept for enqueues, as on Redis (see
taskrunner_redis/lane.py). Taking a connection from asyncpg's pool and giving it back
(its queue, and a task that `asyncio.shield` starts for every release) cost a `SELECT 1`
about 90 µs on top of its 110 µs round trip (500 calls each way, interleaved, on the
benchmarks' machine); an awaited enqueue is one short statement, so that share is what a
caller waits on most after the round trip and the commit. The runner sends its enqueues
one call at a time (concurrent ones share a call, see taskrunner/_coalesce.py), so one
connection serves nearly all of them; a call that finds the lane in use takes a pool
connection as before. The lane's statements are those of any pooled use (one commit per
enqueue, nothing kept in the session). A call that fails gives the connection back to the
pool, which rolls back what it left open and waits out a cancelled statement; one whose
connection died drops it and runs again on the pool (enqueue is safe to repeat). It costs
the pool one connection while the backend is connected; a pool smaller than
`SMALLEST_POOL` keeps all of its connections for the other calls."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from taskrunner.errors import BackendError, ConfigurationError
from taskrunner_postgres.errors import DATABASE_ERRORS, database_error, is_connection_lost
from taskrunner_postgres.records import canonical_id

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    from taskrunner_postgres.migrate import Connection

T = TypeVar("T")
SMALLEST_POOL = 4  # connections a pool needs to lend one to the enqueue lane


async def keep_session(connection: Connection) -> None:
    """The pool's reset of a connection given back: nothing beyond asyncpg's own rollback of
    a transaction left open. The backend's statements leave no session state behind (their
    settings are transaction-local, their advisory locks transaction-scoped, and LISTEN has
    a connection of its own), so asyncpg's default reset query (`CLOSE ALL; UNLISTEN *;
    RESET ALL; SELECT pg_advisory_unlock_all()`) would only add a round trip to every use.
    tests/postgres/test_pool_reset.py holds the SQL to that."""


class PostgresStore:
    """The backend's connection pool (None until `connect()`) and the database's URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pool: asyncpg.Pool | None = None
        self._lane: PoolConnectionProxy[Any] | None = None  # the enqueue lane, once taken
        self._lane_busy = False

    def error(self, what: str, exc: BaseException) -> BackendError:
        """The BackendError for `exc`, raised while doing `what`."""
        return database_error(self.url, what, exc)

    def require_pool(self) -> asyncpg.Pool:
        """The pool; ConfigurationError before `connect()`."""
        if self.pool is None:
            raise ConfigurationError("the Postgres backend is not connected; call connect()")
        return self.pool

    async def on_pool(
        self, what: str, work: Callable[[Connection], Awaitable[T]], again: bool
    ) -> T:
        """Run `work` on a pooled connection. A connection found dead (the server restarted,
        or terminated it) is dropped with every other pooled one, which are likely dead too;
        with `again`, for work safe to repeat, it then runs once more on a new connection."""
        pool = self.require_pool()
        for last in (not again, True):
            try:
                async with pool.acquire() as conn:
                    try:
                        return await work(conn)
                    except DATABASE_ERRORS as exc:
                        if is_connection_lost(exc):
                            await _drop_connections(pool, conn)
                        raise
            except DATABASE_ERRORS as exc:
                if last or not is_connection_lost(exc):
                    raise self.error(what, exc) from exc
        raise AssertionError("unreachable")

    async def on_lane(self, what: str, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `work`, safe to repeat, on the enqueue lane when it is free (see above), else
        as `on_pool` does."""
        pool = self.require_pool()
        if self._lane_busy or pool.get_max_size() < SMALLEST_POOL:
            return await self.on_pool(what, work, True)
        self._lane_busy = True
        try:
            conn = self._lane
            if conn is None:
                with contextlib.suppress(*DATABASE_ERRORS):  # on_pool below tells it
                    conn = self._lane = await pool.acquire()
            if conn is not None:
                try:
                    return await work(conn)
                except DATABASE_ERRORS as exc:
                    self._lane = None
                    if not is_connection_lost(exc):
                        await pool.release(conn)
                        raise self.error(what, exc) from exc
                    await _drop_connections(pool, conn)
                except BaseException:
                    self._lane = None
                    await pool.release(conn)
                    raise
        finally:
            self._lane_busy = False
            if self.pool is not pool:  # closed meanwhile: `close` waits for the lane
                await self.give_back_lane(pool)
        return await self.on_pool(what, work, True)

    async def give_back_lane(self, pool: asyncpg.Pool) -> None:
        """Return the lane's connection to `pool` (before it closes), unless a call holds it."""
        if self._lane is not None and not self._lane_busy:
            conn, self._lane = self._lane, None
            with contextlib.suppress(*DATABASE_ERRORS):
                await pool.release(conn)

    async def fetch(self, what: str, query: str, *args: Any, again: bool = False) -> list[Any]:
        """The rows of one statement run on a pooled connection (see `on_pool`)."""
        return await self.on_pool(what, lambda conn: conn.fetch(query, *args), again)

    async def fetchval(self, what: str, query: str, *args: Any, again: bool = False) -> Any:
        """The first column of the first row of `fetch` (None without rows)."""
        rows = await self.fetch(what, query, *args, again=again)
        return rows[0][0] if rows else None

    async def answered(self, what: str, query: str, ids: Sequence[str]) -> list[bool]:
        """Run `query` on the ids that are UUIDs ($1), once; per id, whether a row of the
        answer starts with it (never for an id that is no UUID, which no job has)."""
        wanted = [canonical_id(job_id) for job_id in ids]
        valid = [job_id for job_id in wanted if job_id is not None]
        if not valid:
            return [False] * len(ids)
        rows = await self.fetch(what, query, valid)
        found = {row[0] for row in rows}
        return [job_id in found for job_id in wanted]


async def _drop_connections(pool: asyncpg.Pool, conn: Connection) -> None:
    with contextlib.suppress(asyncpg.InterfaceError):  # asyncpg may have released it
        conn.terminate()
    await pool.expire_connections()
