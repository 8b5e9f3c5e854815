"""The backend conformance suite on Postgres with marks a backend never drops: after its
first claim, every claim starts past its marks (taskrunner_postgres/claiming.py), so each
job below a mark is found only by a marked scan that came up short. No job may be lost or
claimed twice, and every order the suite checks must hold."""

from __future__ import annotations

import math

from taskrunner.testing import BackendConformance
from taskrunner_postgres import PostgresBackend
from taskrunner_postgres.claiming import ClaimMarks
from tests.conformance.test_postgres import PostgresBackends


class TestPostgresBackendWithMarksKept(PostgresBackends, BackendConformance):
    def make(self, pg_url: str) -> PostgresBackend:
        backend = PostgresBackend(pg_url)
        backend.claim_marks = ClaimMarks(every=math.inf)
        return backend
