"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskrunner import JobInfo, JobState, TaskRunner
from taskrunner.backend import Backend, JobRecord, NewJob, load_backend
from taskrunner.memory import MemoryBackend
from taskrunner.testing import drain as drain  # the suite drains with the public helper


async def eventually(check: Callable[[], Any], timeout: float = 30.0) -> None:
    """Poll `check` (sync or async) until it is truthy; fail after `timeout` seconds (a
    bound against a hang, wide enough for a worker process to start on a loaded machine)."""
    with anyio.fail_after(timeout):
        while True:
            value = check()
            if hasattr(value, "__await__"):
                value = await value
            if value:
                return
            await anyio.sleep(0.01)


def until(check: Callable[[], Any], timeout: float = 30.0) -> None:
    """`eventually`, for a test's own thread (no event loop): poll `check` until truthy."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout:.0f} s: {check}")
        time.sleep(0.005)


@contextmanager
def connected_in_a_thread(runner: TaskRunner) -> Iterator[TaskRunner]:
    """`runner`, connected on an event loop that runs in a thread of its own (as an async
    app's or a worker's loop does) until the block ends."""
    stop = threading.Event()
    started = threading.Event()

    async def serve() -> None:
        async with runner:
            started.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert started.wait(30)
    try:
        yield runner
    finally:
        stop.set()
        thread.join(30)


class CountingBackend(MemoryBackend):
    """The real memory backend, counting calls per method (to check round trips)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        super().__init__(clock=clock) if clock else super().__init__()
        self.calls: dict[str, int] = {}

    def _tick(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    async def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[str]:
        self._tick("enqueue")
        return await super().enqueue(jobs, connection)

    async def get(self, ids: Sequence[str]) -> list[JobRecord | None]:
        self._tick("get")
        return await super().get(ids)


# below Linux's ephemeral range (32768-60999), from which every outgoing connection takes
# its local port: under the parallel test processes (pytest-xdist) a port the kernel handed
# out for a moment (bind to port 0) could be taken by a connection before the test's server
# binds it, while a random one here is only taken by another test that drew the same port
FREE_PORTS = range(20000, 32000)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (a server that then fails
    to bind it has met a test that drew the same port: it may draw again)."""
    while True:
        port = random.choice(FREE_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def runner_on(backend: Backend | None = None, **options: Any) -> TaskRunner:
    return TaskRunner("memory://", backend=backend or MemoryBackend(), **options)


def require(subject: TaskRunner | str, ability: type) -> None:
    """Skip the test (saying why) if the backend of a runner or of a URL lacks an optional
    ability, a protocol of `taskrunner.backend` (as the conformance suite does)."""
    backend = subject.backend if isinstance(subject, TaskRunner) else load_backend(subject)
    if not isinstance(backend, ability):
        pytest.skip(f"{type(backend).__name__} has no {ability.__name__}")


async def finished(runner: TaskRunner, total: int) -> bool:
    """True once `total` jobs are finished (in any finished state)."""
    stats = await runner.stats()
    return sum(n for counts in stats.values() for s, n in counts.items() if s.finished) >= total


async def jobs_in_chunks(
    runner: TaskRunner, ids: Sequence[str], chunk: int = 500
) -> list[JobInfo | None]:
    """`runner.get_jobs(ids)` for many ids, `chunk` to a round trip."""
    return [
        info
        for start in range(0, len(ids), chunk)
        for info in await runner.get_jobs(ids[start : start + chunk])
    ]


async def state_is(runner: TaskRunner, job_id: str, state: JobState) -> bool:
    return (await runner.get_job(job_id)).state is state


def sqlite_url(folder: Path) -> str:
    """The URL of a SQLite file in `folder` (absolute: four slashes)."""
    return f"sqlite:///{folder / 'jobs.db'}"
