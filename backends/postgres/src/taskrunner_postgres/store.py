"""The pool both `PostgresBackend` and its inspection run statements on: a connection found
dead is dropped (and the work run again where that is safe), and errors are told as
`BackendError`s that name the server."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from taskrunner.errors import BackendError, ConfigurationError
from taskrunner_postgres.errors import DATABASE_ERRORS, database_error, is_connection_lost
from taskrunner_postgres.records import canonical_id

if TYPE_CHECKING:
    from taskrunner_postgres.migrate import Connection

T = TypeVar("T")


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
