"""The core's backend and inspection conformance suites, on Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from taskrunner.testing import BackendConformance, InspectionConformance
from taskrunner_postgres import PostgresBackend


class PostgresBackends:
    """The suites' `backend` and `peer` fixtures on Postgres; `make` builds each backend."""

    def make(self, pg_url: str) -> PostgresBackend:
        return PostgresBackend(pg_url)

    @pytest.fixture
    async def backend(self, pg_url: str) -> AsyncIterator[PostgresBackend]:
        backend = self.make(pg_url)
        await backend.connect()
        try:
            yield backend
        finally:
            await backend.close()

    @pytest.fixture
    async def peer(self, pg_url: str, backend: PostgresBackend) -> AsyncIterator[PostgresBackend]:
        peer = self.make(pg_url)  # after `backend`, which created the schema
        await peer.connect()
        try:
            yield peer
        finally:
            await peer.close()


class TestPostgresBackend(PostgresBackends, BackendConformance, InspectionConformance):
    pass
