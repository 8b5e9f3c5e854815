"""The core's backend and inspection conformance suites, on SQLite: each test has a file
of its own under pytest's tmp_path, and `peer` is a second backend (another connection,
as another process would have) on the same file."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from taskrunner.testing import BackendConformance, InspectionConformance
from taskrunner_sqlite import SqliteBackend
from tests.sqlite.conftest import connected


class TestSqliteBackend(BackendConformance, InspectionConformance):
    @pytest.fixture
    async def backend(self, sqlite_url: str) -> AsyncIterator[SqliteBackend]:
        async with connected(sqlite_url) as backend:
            yield backend

    @pytest.fixture
    async def peer(self, sqlite_url: str, backend: SqliteBackend) -> AsyncIterator[SqliteBackend]:
        async with connected(sqlite_url) as peer:  # after `backend`, which migrated the file
            yield peer
