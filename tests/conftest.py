from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from taskrunner import TaskRunner
from tests.helpers import sqlite_url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    # every coroutine test runs on asyncio through anyio's pytest plugin; the mark goes on
    # before collection so that parametrized tests get it too
    if collector.funcnamefilter(name) and inspect.iscoroutinefunction(obj):  # type: ignore[attr-defined]
        pytest.mark.anyio(obj)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # `-p no:xdist` runs the suite in one process: the xdist options of the pytest settings'
    # addopts are then accepted and mean nothing
    # (a lowercase short option is pytest's to hand out: `_addoption`, as xdist itself adds it)
    if not pluginmanager.has_plugin("xdist"):
        group = parser.getgroup("xdist", "pytest-xdist (disabled)")
        group._addoption("-n", dest="numprocesses", help="ignored: pytest-xdist is disabled")
        group._addoption("--dist", dest="dist", help="ignored: pytest-xdist is disabled")


@pytest.fixture(params=["redis", "postgres", "sqlite"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for a namespace of the test's own on Redis, then on Postgres (cleaned up),
    then a SQLite file of its own under tmp_path."""
    from tests.chaos.conftest import POSTGRES, REDIS, drop_schema
    from tests.redis.conftest import delete_prefix

    name = f"shared_{secrets.token_hex(5)}"
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    elif request.param == "redis":
        yield f"{REDIS}?prefix={name}"
        asyncio.run(delete_prefix(REDIS, name))
    else:
        yield f"{POSTGRES}?schema={name}&application_name=chaos-{name}"
        asyncio.run(drop_schema(name))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A Postgres URL for a schema of the test's own, dropped afterwards."""
    from tests.chaos.conftest import POSTGRES, drop_schema

    name = f"tpg_{secrets.token_hex(5)}"
    yield f"{POSTGRES}?schema={name}&application_name=chaos-{name}"
    asyncio.run(drop_schema(name))


@pytest.fixture(params=["memory", "redis", "postgres", "sqlite"])
async def each_backend_runner(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[TaskRunner]:
    """A runner on a namespace of the test's own: memory, then Redis, then Postgres, then
    a SQLite file under tmp_path."""
    from tests.chaos.conftest import POSTGRES, REDIS, drop_schema
    from tests.redis.conftest import delete_prefix

    name = f"each_{secrets.token_hex(5)}"
    urls = {
        "memory": "memory://",
        "redis": f"{REDIS}?prefix={name}",
        "postgres": f"{POSTGRES}?schema={name}&application_name=chaos-{name}",
        "sqlite": sqlite_url(tmp_path),
    }
    runner = TaskRunner(urls[request.param])
    yield runner
    await runner.close()
    if request.param == "redis":
        await delete_prefix(REDIS, name)
    elif request.param == "postgres":
        await drop_schema(name)
