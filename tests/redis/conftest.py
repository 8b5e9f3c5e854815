"""Fixtures for tests against the real Redis at 127.0.0.1:6379 (or TASKRUNNER_TEST_REDIS)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from taskrunner_redis import RedisBackend

REDIS_URL = os.environ.get("TASKRUNNER_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete a test's keys, one key per command (a cluster refuses DEL across slots)."""
    client = aioredis.Redis.from_url(url)
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await _delete(client, batch)
                batch.clear()
        await _delete(client, batch)
    finally:
        await client.aclose()


async def _delete(client: aioredis.Redis, keys: list[bytes]) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.unlink(key)
        await pipe.execute()


@pytest.fixture(scope="session")
def redis_available() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")


@pytest.fixture
def redis_prefix(redis_available: None) -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards (for sync and async tests)."""
    prefix = f"trtest-{uuid.uuid4().hex[:12]}"
    yield prefix
    asyncio.run(delete_prefix(REDIS_URL, prefix))


@pytest.fixture
def redis_url(redis_prefix: str) -> str:
    separator = "&" if "?" in REDIS_URL else "?"
    return f"{REDIS_URL}{separator}prefix={redis_prefix}"


@pytest.fixture
async def redis_backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(redis_url)
    await backend.connect()
    yield backend
    await backend.close()


class Ledger:
    """Reads what the ledger test app wrote: `entries()` are completions, `started()`
    attempts that began, `ticks()` recurring runs. Entries are 'job_id:attempt'."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)

    async def entries(self, suffix: str = "") -> list[str]:
        return [str(entry) for entry in await self.client.lrange(self.key + suffix, 0, -1)]

    async def started(self) -> list[str]:
        return await self.entries(":started")

    async def ticks(self) -> list[str]:
        return await self.entries(":ticks")

    async def length(self) -> int:
        return int(await self.client.llen(self.key))


@pytest.fixture
async def ledger(redis_prefix: str) -> AsyncIterator[Ledger]:
    ledger = Ledger(f"{redis_prefix}:ledger")
    yield ledger
    await ledger.client.aclose()


@pytest.fixture
def worker_env(redis_url: str, ledger: Ledger) -> dict[str, str]:
    """What the worker processes of the ledger app need in their environment."""
    return {"TASKRUNNER_URL": redis_url, "LEDGER_REDIS": REDIS_URL, "LEDGER_KEY": ledger.key}
