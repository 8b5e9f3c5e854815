"""The core's backend and inspection conformance suites, on Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from taskrunner.testing import BackendConformance, InspectionConformance
from taskrunner_postgres import PostgresBackend


class TestPostgresBackend(BackendConformance, InspectionConformance):
    @pytest.fixture
    async def backend(self, pg_url: str) -> AsyncIterator[PostgresBackend]:
        backend = PostgresBackend(pg_url)
        await backend.connect()
        try:
            yield backend
        finally:
            await backend.close()

    @pytest.fixture
    async def peer(self, pg_url: str, backend: PostgresBackend) -> AsyncIterator[PostgresBackend]:
        peer = PostgresBackend(pg_url)  # after `backend`, which created the schema
        await peer.connect()
        try:
            yield peer
        finally:
            await peer.close()
