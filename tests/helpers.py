"""Small helpers shared by the tests."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskrunner import JobState, TaskRunner
from taskrunner.backend import Backend, JobRecord, NewJob, load_backend
from taskrunner.memory import MemoryBackend
from taskrunner.testing import drain as drain  # the suite drains with the public helper


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> None:
    """Poll `check` (sync or async) until it is truthy; fail after `timeout` seconds."""
    with anyio.fail_after(timeout):
        while True:
            value = check()
            if hasattr(value, "__await__"):
                value = await value
            if value:
                return
            await anyio.sleep(0.01)


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


async def state_is(runner: TaskRunner, job_id: str, state: JobState) -> bool:
    return (await runner.get_job(job_id)).state is state


def sqlite_url(folder: Path) -> str:
    """The URL of a SQLite file in `folder` (absolute: four slashes)."""
    return f"sqlite:///{folder / 'jobs.db'}"
