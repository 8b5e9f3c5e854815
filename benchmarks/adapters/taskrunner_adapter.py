"""taskrunner on any of its backends, with its defaults (JSON payloads, results kept for
`result_ttl`, 3 retries). Memory lives in one process, so there the worker runs embedded in
the measuring process; on Redis and Postgres it runs in its own process, embedded with
`runner.worker(...)` exactly as `taskrunner run` does."""

from __future__ import annotations

import asyncio
from typing import Any

from kit.main import main
from kit.probe import BODIES
from kit.protocol import Spec

from taskrunner import BackendNotFound, JobState, Task, TaskRunner

NOT_FINISHED = (JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING)
PLUGINS = {"redis": "taskrunner-redis", "postgres": "taskrunner-postgres"}


def _job(name: str) -> Any:
    body = BODIES[name]

    async def job(seq: int) -> None:
        await body(seq)

    return job


class Taskrunner:
    name = "taskrunner"

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.in_process = spec.backend == "memory"
        self._runner: TaskRunner | None = None
        self._tasks: dict[str, Task[..., Any]] = {}

    @property
    def runner(self) -> TaskRunner:
        if self._runner is None:
            self._runner = TaskRunner(self.spec.url)
            self._tasks = {name: self._runner.task(name=name)(_job(name)) for name in BODIES}
        return self._runner

    def unavailable(self) -> str | None:
        plugin = PLUGINS.get(self.spec.backend, f"the {self.spec.backend} backend")
        try:
            self.runner  # noqa: B018 - building it loads the backend plugin
        except BackendNotFound:
            return f"{plugin} is not installed"
        except Exception as error:  # a plugin still being written may fail in any way
            return f"{plugin} does not load: {type(error).__name__}: {error}"
        return None

    async def open(self) -> None:
        await self.runner.connect()

    async def close(self) -> None:
        await self.runner.close()

    async def enqueue(self, task: str, seq: int, delay: float = 0.0) -> None:
        chosen = self._tasks[task] if not delay else self._tasks[task].options(delay=delay)
        await chosen.enqueue(seq)

    async def enqueue_batch(self, task: str, seqs: range) -> None:
        prepare = self._tasks[task].prepare
        await self.runner.enqueue_many([prepare(seq) for seq in seqs])

    async def unfinished(self) -> int:
        stats = await self.runner.stats()
        return sum(counts.get(state, 0) for counts in stats.values() for state in NOT_FINISHED)

    async def serve(self, concurrency: int, stop: asyncio.Event) -> None:
        async with self.runner.worker(concurrency=concurrency):
            await stop.wait()


if __name__ == "__main__":
    main(Taskrunner)
