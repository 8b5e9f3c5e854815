"""Fixtures of the SQLite tests: a file of the test's own under pytest's tmp_path."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskrunner_sqlite import SqliteBackend


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[SqliteBackend]:
    """A backend on `url`, connected for the block and closed after it."""
    backend = SqliteBackend(url)
    await backend.connect()
    try:
        yield backend
    finally:
        await backend.close()


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
