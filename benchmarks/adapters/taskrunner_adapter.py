"""taskrunner on any of its backends, with its defaults (JSON payloads, results kept for
`result_ttl`, 3 retries). Memory lives in one process, so there the worker runs embedded in
the measuring process; on Redis and Postgres it runs in its own process, embedded with
`runner.worker(...)` exactly as `taskrunner run` does. The flow workloads' tasks (see
`kit.flow`) carry a `Limit` or a `Rate`; the batch workloads (see `kit.batches`) store their
jobs with `runner.batch`; the sync workload (see `kit.sync`) enqueues with `enqueue_sync`
from threads, through a second runner that is a sync app's (on memory, through the first)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from kit.flow import CLOSED, HOT, LIMITED, RATED
from kit.main import main
from kit.probe import BODIES, PROBE, announce_serving, quiet_body
from kit.protocol import Spec

from taskrunner import BackendNotFound, JobState, Limit, Rate, Task, TaskRunner, current_job
from taskrunner.backend import Batches

NOT_FINISHED = (JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING)
PLUGINS = {"redis": "taskrunner-jobs-redis", "postgres": "taskrunner-jobs-postgres"}


def _job(body: Callable[[int], Any]) -> Any:
    async def job(seq: int) -> None:
        await body(seq)

    return job


async def _granted(seq: int) -> None:
    """The rated jobs' body: stamps the start as the backend granted it, on its clock."""
    PROBE.stamp(seq, current_job().record.started_at)


def _limited_key(seq: int) -> str:
    return f"k:{seq % 100}"


def _flow_tasks(runner: TaskRunner, spec: Spec) -> dict[str, Task[..., Any]]:
    """The tasks of `kit.flow`: a limit that never binds, a hot key, a rate, a closed window."""
    task = runner.task
    return {
        LIMITED: task(name=LIMITED, limit=Limit(1_000_000, key=_limited_key))(_job(BODIES["noop"])),
        HOT: task(name=HOT, limit=Limit(1, key="hot"))(_job(quiet_body)),
        RATED: task(name=RATED, rate=Rate(spec.per_second, per=1.0, key="rated"))(_job(_granted)),
        CLOSED: task(name=CLOSED, rate=Rate(1, per=3600.0, key="closed"))(_job(quiet_body)),
    }


def _declare(runner: TaskRunner, spec: Spec) -> dict[str, Task[..., Any]]:
    """Every task of the workloads, declared on `runner`."""
    tasks = {name: runner.task(name=name)(_job(body)) for name, body in BODIES.items()}
    tasks.update(_flow_tasks(runner, spec))
    return tasks


class Taskrunner:
    name = "taskrunner"

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.in_process = spec.backend == "memory"
        self._runner: TaskRunner | None = None
        self._tasks: dict[str, Task[..., Any]] = {}
        self._sync_tasks: dict[str, Task[..., Any]] = {}  # the sync app's, see open_sync
        self._sync_runner: TaskRunner | None = None

    @property
    def runner(self) -> TaskRunner:
        if self._runner is None:
            self._runner = TaskRunner(self.spec.url)
            self._tasks = _declare(self._runner, self.spec)
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
        """One worker; on memory, `spec.workers` of them (the backend lives in this process)."""
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(self.spec.workers if self.in_process else 1):
                await stack.enter_async_context(self.runner.worker(concurrency=concurrency))
            announce_serving()
            await stop.wait()

    async def pause(self) -> None:
        await self.runner.pause(self.runner.default_queue)

    async def resume(self) -> None:
        await self.runner.resume(self.runner.default_queue)

    async def flow_unavailable(self) -> str | None:
        """A backend without limits drops a job's rate key: enqueue one, read it back."""
        job = await self._tasks[CLOSED].enqueue(-1)
        info = await self.runner.get_job(job.id)
        await self.runner.cancel(job.id)
        if info.rate_key is None:
            plugin = PLUGINS.get(self.spec.backend, self.spec.backend)
            return f"{plugin} keeps no limits or rates yet (a job reads back without its rate key)"
        return None

    async def sync_unavailable(self) -> str | None:
        return None  # blocking calls work on every backend, memory through the running loop

    def open_sync(self) -> None:
        """A runner of a sync app's own, never connected on a loop: its first blocking call
        starts its loop thread and connects there. The memory backend lives in the loop the
        adapter runs on (a sync app cannot use it), so there the threads' calls go to that
        loop through the first runner, as an async app's thread pool's calls do."""
        if self.in_process:
            self._sync_tasks = self._tasks
            return
        self._sync_runner = TaskRunner(self.spec.url)
        self._sync_tasks = _declare(self._sync_runner, self.spec)

    def enqueue_sync(self, task: str, seq: int) -> None:
        self._sync_tasks[task].enqueue_sync(seq)

    def close_sync(self) -> None:
        if self._sync_runner is not None:
            self._sync_runner.close_sync()
            self._sync_runner = None

    async def batches_unavailable(self) -> str | None:
        if isinstance(self.runner.backend, Batches):
            return None
        plugin = PLUGINS.get(self.spec.backend, self.spec.backend)
        return f"{plugin} keeps no batches yet (its backend is no taskrunner.backend.Batches)"

    async def store_batch(self, task: str, seqs: range, callback: int | None = None) -> str:
        prepare = self._tasks[task].prepare
        on_success = None if callback is None else prepare(callback)
        batch = await self.runner.batch([prepare(seq) for seq in seqs], on_success=on_success)
        return batch.id

    async def batch_times(self, batch_id: str) -> tuple[float, float]:
        info = await self.runner.get_batch(batch_id)
        if info.ended_at is None or info.on_success is None:
            raise RuntimeError(f"batch {batch_id} has not ended or has no on_success")
        callback = await self.runner.get_job(info.on_success)
        if callback.started_at is None:
            raise RuntimeError(f"the callback {callback.id} of batch {batch_id} never started")
        return info.ended_at.timestamp(), callback.started_at.timestamp()


if __name__ == "__main__":
    main(Taskrunner)
