"""The backend model run against memory, Redis, Postgres and SQLite."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

from taskrunner.backend import Backend
from taskrunner.memory import MemoryBackend
from tests.model.machine import BackendMachine, settings_for

REDIS = os.environ.get("TASKRUNNER_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES = os.environ.get("TASKRUNNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


class MemoryMachine(BackendMachine):
    @staticmethod
    async def make_backend() -> Backend:
        return MemoryBackend()

    @staticmethod
    async def drop_backend(backend: Backend) -> None:
        await backend.close()


class RedisMachine(BackendMachine):
    # the Redis URL, then the servers whose keys to delete if not that one (a cluster's)
    urls: tuple[str, ...] = (REDIS,)

    @classmethod
    async def make_backend(cls) -> Backend:
        from taskrunner_redis import RedisBackend

        backend = RedisBackend(f"{cls.urls[0]}?prefix=trmodel-{secrets.token_hex(6)}")
        await backend.connect()
        return backend

    @classmethod
    async def drop_backend(cls, backend: Backend) -> None:
        from tests.redis.conftest import delete_prefix

        await backend.close()
        for url in cls.urls[1:] or cls.urls:
            await delete_prefix(url, backend.prefix)  # type: ignore[attr-defined]


class PostgresMachine(BackendMachine):
    @staticmethod
    async def make_backend() -> Backend:
        from taskrunner_postgres import PostgresBackend

        schema = f"model_{secrets.token_hex(6)}"
        backend = PostgresBackend(f"{POSTGRES}?schema={schema}")
        await backend.connect()
        return backend

    @staticmethod
    async def drop_backend(backend: Backend) -> None:
        import asyncpg

        await backend.close()
        conn = await asyncpg.connect(POSTGRES)
        try:
            schema = backend.settings.schema  # type: ignore[attr-defined]
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


class SqliteMachine(BackendMachine):
    @staticmethod
    async def make_backend() -> Backend:
        from taskrunner_sqlite import SqliteBackend

        folder = Path(tempfile.mkdtemp(prefix="trmodel-"))
        backend = SqliteBackend(f"sqlite:///{folder / 'jobs.db'}")
        await backend.connect()
        return backend

    @staticmethod
    async def drop_backend(backend: Backend) -> None:
        await backend.close()
        shutil.rmtree(backend.path.parent)  # type: ignore[attr-defined]


TestMemoryModel = MemoryMachine.TestCase
TestMemoryModel.settings = settings_for(examples=60, steps=40)
TestRedisModel = RedisMachine.TestCase
TestRedisModel.settings = settings_for(examples=15, steps=30)
TestPostgresModel = PostgresMachine.TestCase
TestPostgresModel.settings = settings_for(examples=10, steps=30)
TestSqliteModel = SqliteMachine.TestCase
TestSqliteModel.settings = settings_for(examples=30, steps=30)
