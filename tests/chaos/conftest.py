"""Fixtures for the chaos tests: a backend namespace of the test's own, and a ledger."""

from __future__ import annotations

import functools
import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread
import asyncpg
import pytest

from tests.chaos.targets import Target, hold_write_lock
from tests.redis.conftest import delete_prefix
from tests.redis.server import RedisServer

REDIS = os.environ.get("TASKRUNNER_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES = os.environ.get("TASKRUNNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REFUSE = """
CREATE OR REPLACE FUNCTION "{schema}".refuse() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'the test refuses inserts for a while'; END $$;
CREATE TRIGGER refuse BEFORE INSERT ON "{schema}".jobs
    FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".refuse();
"""


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


@pytest.fixture(params=["redis", "postgres", "sqlite"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    if request.param == "sqlite":
        path = tmp_path / "chaos.db"

        async def hold_the_lock(seconds: float) -> str:
            await anyio.to_thread.run_sync(hold_write_lock, path, seconds)
            return f"held the SQLite write lock for {seconds} s"

        url = f"sqlite:///{path}"
        yield Target(url, url, functools.partial(hold_the_lock, 1.0), hold_the_lock)
    elif request.param == "redis":
        server = RedisServer(tmp_path / "redis")
        (tmp_path / "redis").mkdir()
        server.start()

        async def restart_redis() -> str:
            server.stop()
            server.start()
            return "restarted Redis"

        async def stop_redis(seconds: float) -> str:
            server.stop()
            await anyio.sleep(seconds)
            server.start()
            return f"stopped Redis for {seconds} s"

        try:
            url = f"{server.url}?prefix=chaos"
            yield Target(url, url, restart_redis, stop_redis)
        finally:
            server.stop()
    else:
        schema = f"chaos_{secrets.token_hex(5)}"
        struck = f"chaos-struck-{schema}"

        async def cut_connections() -> str:
            conn = await asyncpg.connect(POSTGRES)
            try:
                count = await conn.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = $1",
                    struck,
                )
            finally:
                await conn.close()
            return f"terminated {count} Postgres connections"

        async def refuse_inserts(seconds: float) -> str:
            conn = await asyncpg.connect(POSTGRES)
            try:
                await conn.execute(REFUSE.format(schema=schema))
                await anyio.sleep(seconds)
                await conn.execute(f'DROP TRIGGER refuse ON "{schema}".jobs')
            finally:
                await conn.close()
            return f"refused the jobs' inserts for {seconds} s"

        try:
            url = f"{POSTGRES}?schema={schema}"
            yield Target(
                f"{url}&application_name=chaos-{schema}",
                f"{url}&application_name={struck}",
                cut_connections,
                refuse_inserts,
            )
        finally:
            await drop_schema(schema)
