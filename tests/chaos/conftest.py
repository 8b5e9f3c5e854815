"""Fixtures for the chaos tests: a backend namespace of the test's own, and a ledger."""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.redis.conftest import delete_prefix

REDIS = os.environ.get("TASKRUNNER_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES = os.environ.get("TASKRUNNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(POSTGRES)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid <> pg_backend_pid()",
            f"chaos-{schema}",
        )
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


class Ledger:
    """The Postgres table the chaos app writes one row to per handler run."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.table = f"{schema}.ledger"

    async def runs(self) -> Counter[str]:
        """How many times each job's handler ran."""
        return Counter(row["job_id"] for row in await self.rows())

    async def rows(self) -> list[asyncpg.Record]:
        """Every row: job_id, attempt, pid, and for the apps that record them, key, started
        and ended (wall-clock seconds; ended is None for a run that did not return)."""
        conn = await asyncpg.connect(POSTGRES)
        try:
            return await conn.fetch(
                f"SELECT job_id, attempt, pid, key, started, ended FROM {self.table}"
            )
        finally:
            await conn.close()


@pytest.fixture
async def ledger() -> AsyncIterator[Ledger]:
    schema = f"chaos_ledger_{secrets.token_hex(5)}"
    conn = await asyncpg.connect(POSTGRES)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(
            f"CREATE TABLE {schema}.ledger (job_id text NOT NULL, "
            "attempt int NOT NULL, pid int NOT NULL, at timestamptz DEFAULT now(), "
            "key text, started float8, ended float8)"
        )
    finally:
        await conn.close()
    yield Ledger(schema)
    await drop_schema(schema)


@pytest.fixture(params=["redis", "postgres", "sqlite"])
async def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL for a fresh namespace on each backend that worker processes can share (a
    Redis prefix, a Postgres schema, a SQLite file under the test's tmp_path), cleaned up
    afterwards."""
    name = f"chaos_{secrets.token_hex(5)}"
    if request.param == "redis":
        yield f"{REDIS}?prefix={name}"
        await delete_prefix(REDIS, name)
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / name}.db"
    else:
        yield f"{POSTGRES}?schema={name}&application_name=chaos-{name}"
        await drop_schema(name)


@pytest.fixture
def chaos_env(backend_url: str, ledger: Ledger) -> dict[str, str]:
    return {"TASKRUNNER_URL": backend_url, "LEDGER_DSN": POSTGRES, "LEDGER_TABLE": ledger.table}
