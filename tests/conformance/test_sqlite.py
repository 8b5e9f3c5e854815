"""The core's backend and inspection conformance suites, on SQLite: each test has a file
of its own under pytest's tmp_path, and `peer` is a second backend (another connection,
as another process would have) on the same file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskrunner.testing import BackendConformance, InspectionConformance
from taskrunner_sqlite import SqliteBackend


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


class TestSqliteBackend(BackendConformance, InspectionConformance):
    @pytest.fixture
    async def backend(self, sqlite_url: str) -> AsyncIterator[SqliteBackend]:
        backend = SqliteBackend(sqlite_url)
        await backend.connect()
        try:
            yield backend
        finally:
            await backend.close()

    @pytest.fixture
    async def peer(self, sqlite_url: str, backend: SqliteBackend) -> AsyncIterator[SqliteBackend]:
        peer = SqliteBackend(sqlite_url)  # after `backend`, which migrated the file
        await peer.connect()
        try:
            yield peer
        finally:
            await peer.close()
