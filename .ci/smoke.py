"""One job on each backend, from an installed taskrunner (no workspace, no tests folder).

Run by `.ci/wheels` inside a fresh virtualenv that holds only the built wheels: it enqueues a
job, lets a burst worker run it, reads the result back, and cleans up after itself (its own
SQLite file, Redis key prefix and Postgres schema).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid

import asyncpg
import redis.asyncio as aioredis

from taskrunner import TaskRunner

TAG = f"smoke_{uuid.uuid4().hex[:8]}"
REDIS = os.environ.get("SMOKE_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES = os.environ.get("SMOKE_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def one_job(url: str) -> None:
    runner = TaskRunner(url)

    @runner.task(name="smoke.add")
    async def add(a: int, b: int) -> int:
        return a + b

    async with runner:
        job = await add.enqueue(2, 3)
        await runner.worker(burst=True).run()
        value = await job.result(timeout=10)
    if value != 5:
        raise SystemExit(f"{url}: expected 5, got {value!r}")
    print(f"ok  {url.split('?')[0]}")


async def main() -> None:
    await one_job("memory://")
    with tempfile.TemporaryDirectory() as folder:
        await one_job(f"sqlite:///{folder}/jobs.db")
    try:
        await one_job(f"{REDIS}?prefix={TAG}")
    finally:
        client = aioredis.from_url(REDIS)
        keys = [key async for key in client.scan_iter(match=f"{TAG}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    try:
        await one_job(f"{POSTGRES}?schema={TAG}")
    finally:
        conn = await asyncpg.connect(POSTGRES)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{TAG}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
