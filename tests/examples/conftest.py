"""Fixtures for the example tests: a local HTTP server standing in for the internet, fresh
memory backends for the examples' module-level runners, and the real Redis and Postgres."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis
from fastapi import FastAPI

from taskrunner import TaskRunner
from tests.helpers import free_port as free_port  # the examples' tests import it from here

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("TASKRUNNER_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "TASKRUNNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


# -- a local web server --------------------------------------------------------------------------


@dataclass
class Route:
    """What the local server answers for one path."""

    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    fail_first: int = 0  # answer 503 to this many requests first
    hold: threading.Event | None = None  # wait for this event before answering
    requests: int = 0


@dataclass
class LocalServer:
    """An HTTP server on 127.0.0.1 serving `routes`; everything else is a 404."""

    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(
        self,
        path: str,
        body: bytes,
        content_type: str = "text/plain",
        *,
        fail_first: int = 0,
        hold: threading.Event | None = None,
    ) -> str:
        self.routes[path] = Route(body, content_type, fail_first=fail_first, hold=hold)
        return self.url(path)


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    server_state = LocalServer("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = server_state.routes.get(self.path)
            if route is None:
                self.answer(404, b"not found", "text/plain")
                return
            route.requests += 1
            if route.hold is not None:
                route.hold.wait(10)
            if route.requests <= route.fail_first:
                self.answer(503, b"busy, try later", "text/plain")
            else:
                self.answer(route.status, route.body, route.content_type)

        def answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server_state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        for route in server_state.routes.values():
            if route.hold is not None:
                route.hold.set()
        httpd.shutdown()
        httpd.server_close()


# -- in-process apps ---------------------------------------------------------------------------


# --8<-- [start:serve_app]
@asynccontextmanager
async def serve_app(
    app: FastAPI, runner: TaskRunner, url: str = "memory://"
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (and so its embedded worker) around an httpx client that
    talks to the app in process, on a fresh memory backend (or the backend at `url`)."""
    runner.use_url(url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            yield client
            # --8<-- [end:serve_app]


def in_process(app: FastAPI) -> httpx.AsyncClient:
    """An httpx client that calls the app in process without running its lifespan, so
    without its worker: a test runs the jobs itself (taskrunner.testing's drain)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app.test")


async def eventually_json(
    client: httpx.AsyncClient, path: str, done: str, timeout: float = 10.0
) -> dict[str, object]:
    """GET `path` until the JSON answer's `done` field is truthy."""
    async with asyncio.timeout(timeout):
        while True:
            response = await client.get(path)
            response.raise_for_status()
            data: dict[str, object] = response.json()
            if data.get(done):
                return data
            await asyncio.sleep(0.05)


def shell_env(**extra: str) -> dict[str, str]:
    """The environment for a command line of an example: this virtualenv's tools first."""
    env = {k: v for k, v in os.environ.items() if k != "TASKRUNNER_URL"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def procfile(folder: Path) -> dict[str, str]:
    """The command line of each process type of the Procfile in `folder`."""
    lines = (folder / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


async def until_serving(
    client: httpx.AsyncClient, path: str, server: subprocess.Popen[bytes], log: Path
) -> httpx.Response:
    """The first answer of a server process to GET `path`, once it listens (at most 60 s);
    fails with the process's log if it stops first."""
    async with asyncio.timeout(60):
        while True:
            if server.poll() is not None:
                raise AssertionError(await asyncio.to_thread(log.read_text))
            try:
                return await client.get(path)
            except httpx.TransportError:
                await asyncio.sleep(0.1)


@contextmanager
def spawn(
    command: str, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a command line in a shell, as a Procfile runner does, output to `log`; the
    process is killed on the way out if it is still running."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=cwd, env=env, stdout=out, stderr=out
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def without_uv_run(command: str) -> str:
    """`uv run X` as the test runs it: X from this virtualenv (already synced)."""
    assert command.startswith("uv run "), command
    return command.removeprefix("uv run ")


# -- Redis and Postgres --------------------------------------------------------------------------


def _unreachable(what: str, exc: BaseException) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not reachable: {exc}")
    pytest.skip(f"{what} is not reachable: {exc}")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of the test's own; every key under it is deleted afterwards."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        _unreachable(f"Redis at {REDIS_URL}", exc)
    prefix = f"trexample-{secrets.token_hex(6)}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema name of the test's own; the schema is dropped afterwards."""

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(run("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _unreachable("Postgres", exc)
    name = f"example_{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        asyncio.run(run(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
