"""The backend conformance suite on Postgres with marks a backend never drops: after its
first claim, every claim starts past its marks (taskrunner_postgres/claiming.py), so each
job below a mark is found only by a marked scan that came up short. No job may be lost or
claimed twice, and every order the suite checks must hold."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest

from taskrunner.testing import BackendConformance
from taskrunner_postgres import PostgresBackend
from taskrunner_postgres.claiming import ClaimMarks


async def connected(pg_url: str) -> PostgresBackend:
    backend = PostgresBackend(pg_url)
    backend.claim_marks = ClaimMarks(every=math.inf)
    await backend.connect()
    return backend


class TestPostgresBackendWithMarksKept(BackendConformance):
    @pytest.fixture
    async def backend(self, pg_url: str) -> AsyncIterator[PostgresBackend]:
        backend = await connected(pg_url)
        try:
            yield backend
        finally:
            await backend.close()

    @pytest.fixture
    async def peer(self, pg_url: str, backend: PostgresBackend) -> AsyncIterator[PostgresBackend]:
        peer = await connected(pg_url)  # after `backend`, which created the schema
        try:
            yield peer
        finally:
            await peer.close()
