"""Errors of SQLite and of the file system, told as `BackendError`s that name the file.

The caller's own connection, given for a transactional enqueue, raises sqlite3's errors
untouched: only the backend's own connections are translated.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from taskrunner.errors import BackendError

DATABASE_ERRORS = (sqlite3.Error, OSError)
NOT_CONNECTED = "the SQLite backend is not connected; call connect()"


def database_error(path: Path, what: str, exc: BaseException) -> BackendError:
    """The BackendError for `exc`, raised while doing `what` on the file at `path`."""
    hint = ""
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        hint = "; another process held the write lock past busy_timeout"
    return BackendError(f"SQLite at {path}: {what} failed ({type(exc).__name__}: {exc}){hint}")
