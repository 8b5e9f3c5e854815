"""Fixtures for the dashboard tests: a runner with a failing, a succeeding and a recurring
task, on the memory backend, the real Redis (own key prefix) and Postgres (own schema),
seeded with jobs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from taskrunner import TaskRunner, every
from taskrunner.memory import MemoryBackend
from tests.helpers import sqlite_url
from tests.redis.conftest import redis_available, redis_prefix, redis_url

__all__ = ["redis_available", "redis_prefix", "redis_url"]  # fixtures used here

TOKEN = "t0ken-for-tests-only"
ORIGIN = "http://127.0.0.1"
XSS_ARG = "<img src=x onerror=alert('arg')>"
XSS_MESSAGE = "<script>alert('tb')</script>"


def make_runner(url: str | None) -> TaskRunner:
    """A runner whose tasks the tests use; `url` None: the memory backend."""
    runner = TaskRunner("memory://", backend=MemoryBackend()) if url is None else TaskRunner(url)

    @runner.task(name="dash.boom", retries=0)
    async def boom(text: str) -> None:
        raise ValueError(f"{XSS_MESSAGE} {text}")

    @runner.task(name="dash.ok")
    async def ok(n: int) -> dict[str, int]:
        return {"double": n * 2}

    @runner.task(name="dash.tick", schedule=every(minutes=5), queue="reports")
    async def tick() -> None:
        return None

    return runner


@dataclass
class Seeded:
    """A failed job (XSS in its argument and traceback), a succeeded one, a delayed one."""

    runner: TaskRunner
    failed: str
    succeeded: str
    delayed: str


async def seed(runner: TaskRunner) -> Seeded:
    failed = await runner.tasks["dash.boom"].enqueue(XSS_ARG)
    succeeded = await runner.tasks["dash.ok"].enqueue(21)
    await runner.worker(burst=True, queues=["default"]).run()
    delayed = await runner.tasks["dash.ok"].options(delay=3600).enqueue(1)
    return Seeded(runner, failed.id, succeeded.id, delayed.id)


@pytest.fixture(autouse=True)
def no_shared_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each dashboard of a test signs with a key of its own unless the test gives one."""
    monkeypatch.delenv("TASKRUNNER_DASHBOARD_SECRET", raising=False)


@pytest.fixture(params=["memory", "redis", "postgres", "sqlite"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    fixture = "redis_url" if request.param == "redis" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def seeded(backend_url: str | None) -> AsyncIterator[Seeded]:
    runner = make_runner(backend_url)
    try:
        yield await seed(runner)
    finally:
        await runner.close()


def client_for(
    app: Starlette, base: str = ORIGIN, client: tuple[str, int] = ("127.0.0.1", 50000)
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url=base)


async def log_in(client: httpx.AsyncClient, secret: str = TOKEN, prefix: str = "") -> None:
    response = await client.post(
        f"{prefix}/login", data={"password": secret}, headers={"origin": ORIGIN}
    )
    assert response.status_code == 303, response.text


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)
