"""Fixtures of the SQLite tests: a file of the test's own under pytest's tmp_path."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskrunner_sqlite import SqliteBackend
from taskrunner_sqlite.migrate import known_migrations


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[SqliteBackend]:
    """A backend on `url`, connected for the block and closed after it."""
    backend = SqliteBackend(url)
    await backend.connect()
    try:
        yield backend
    finally:
        await backend.close()


def apply_first_migrations(conn: sqlite3.Connection, count: int) -> None:
    """Apply the first `count` migrations on `conn`, in its open transaction, and record
    them, as an older version of the package did."""
    conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                 "applied_at REAL NOT NULL)")  # fmt: skip
    for migration in known_migrations()[:count]:
        for statement in migration.statements():
            conn.execute(statement)
        conn.execute("INSERT INTO migrations VALUES (?, ?, ?)",
                     (migration.version, migration.name, time.time()))  # fmt: skip


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def sqlite_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
async def backend(sqlite_url: str) -> AsyncIterator[SqliteBackend]:
    async with connected(sqlite_url) as backend:
        yield backend
