"""Fixtures for the Postgres tests: a reachable server, and a fresh schema per test.

The server is `TASKRUNNER_TEST_POSTGRES` (default postgresql://postgres@127.0.0.1:5432/test).
When it cannot be reached the tests are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from taskrunner.backend import redact
from taskrunner_postgres import PostgresBackend

SERVER = os.environ.get("TASKRUNNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _ping() -> None:
    conn = await asyncpg.connect(SERVER, timeout=5)
    await conn.close()


@pytest.fixture(scope="session")
def server() -> str:
    """The server's URL, once it is known to answer."""
    try:
        asyncio.run(_ping())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"Postgres at {redact(SERVER)} is unreachable ({type(exc).__name__}: {exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI must run the Postgres tests")
        pytest.skip(reason + "; set TASKRUNNER_TEST_POSTGRES or start Postgres")
    return SERVER


async def _drop(schema: str) -> None:
    conn = await asyncpg.connect(SERVER, timeout=5)
    try:
        # connections a test left behind (killed workers) must not hold locks on the schema
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid <> pg_backend_pid()",
            f"taskrunner-test-{schema}",
        )
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def schema(server: str) -> Iterator[str]:
    """A fresh schema name; the schema is dropped after the test."""
    name = f"test_{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        asyncio.run(_drop(name))


@pytest.fixture
def pg_url(server: str, schema: str) -> str:
    """A backend URL for this test's schema; its connections are named after the schema."""
    separator = "&" if "?" in server else "?"
    return f"{server}{separator}schema={schema}&application_name=taskrunner-test-{schema}"


@pytest.fixture
async def backend(pg_url: str) -> AsyncIterator[PostgresBackend]:
    """A connected backend on a fresh schema."""
    backend = PostgresBackend(pg_url)
    await backend.connect()
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def admin(server: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test database, for checks and sabotage."""
    conn = await asyncpg.connect(server, timeout=5)
    try:
        yield conn
    finally:
        await conn.close()
