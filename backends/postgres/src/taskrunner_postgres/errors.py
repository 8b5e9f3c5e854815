"""Errors of the database and of the network, told as `BackendError`s that name the server,
and the errors the backend's SQL raises on purpose, told as the core's.

The caller's own connection, given for a transactional enqueue, raises asyncpg's errors
untouched: only the backend's own connections are translated.
"""

from __future__ import annotations

import asyncpg

from taskrunner.backend import redact
from taskrunner.errors import BackendError

DATABASE_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
# the SQLSTATE of an insert of a job with a dependency that is not stored (the trigger of
# migrations/0009_dependencies.sql raises it, with the dependency's id as its detail)
DEPENDENCY_NOT_FOUND = "TRD01"


def is_connection_lost(exc: BaseException) -> bool:
    """True for errors that mean the connection died, not that the statement was wrong."""
    if isinstance(exc, asyncpg.QueryCanceledError):  # a statement timeout, say
        return False
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError
        | OSError,
    )


def database_error(url: str, what: str, exc: BaseException) -> BackendError:
    """The BackendError for `exc`, raised while doing `what` on the database at `url`."""
    return BackendError(f"Postgres at {redact(url)}: {what} failed ({type(exc).__name__}: {exc})")


def missing_dependency(exc: BaseException) -> str | None:
    """The id of the dependency that `exc` says is not stored, if it is the error the SQL
    raises for that (the caller raises `DependencyNotFound` for it); else None."""
    if getattr(exc, "sqlstate", None) != DEPENDENCY_NOT_FOUND:
        return None
    return str(getattr(exc, "detail", None) or "")
