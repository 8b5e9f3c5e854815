"""Start real `taskrunner run` worker processes for fault tests, and always clean them up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import anyio
import anyio.to_thread

from taskrunner import JobState, TaskRunner
from tests.helpers import eventually, state_is

REPO = Path(__file__).resolve().parent.parent


class WorkerProcess:
    """One `python -m taskrunner run APP ...` process, its output in a log file."""

    def __init__(
        self, app: str, *args: str, log_dir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.log_path = log_dir / f"worker-{os.getpid()}-{id(self)}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taskrunner", "run", app, *args],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    async def wait(self, timeout: float = 60.0) -> int:
        """Wait for the process to exit and return its exit code."""
        return await anyio.to_thread.run_sync(self.proc.wait, timeout)

    async def wait_for_output(self, text: str, timeout: float = 90.0) -> None:
        """Wait until the process printed `text` (its start, on a loaded machine with the
        suite's parallel processes, can take tens of seconds)."""
        with anyio.fail_after(timeout):
            while text not in self.output():
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"worker exited before printing {text!r}:\n{self.output()}"
                    )
                await anyio.sleep(0.02)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()


@contextmanager
def worker_processes(
    app: str, count: int, *args: str, log_dir: Path, env: Mapping[str, str] | None = None
) -> Iterator[list[WorkerProcess]]:
    """Start `count` workers; whatever happens, none outlives the block."""
    procs: list[WorkerProcess] = []
    try:
        for _ in range(count):
            procs.append(WorkerProcess(app, *args, log_dir=log_dir, env=env))
        yield procs
    finally:
        for proc in procs:
            proc.kill()


async def started(procs: list[WorkerProcess]) -> None:
    """Wait until every worker says it started."""
    for proc in procs:
        await proc.wait_for_output("started on")


async def stop(procs: list[WorkerProcess], expected: int = 0) -> None:
    """SIGTERM every worker, and check each exits with `expected`."""
    for proc in procs:
        proc.signal(signal.SIGTERM)
    for proc in procs:
        assert await proc.wait(60) == expected, proc.output()


def ledger_runner_for(url: str) -> TaskRunner:
    """A runner on `url` with the task names of the ledger apps (`record`, `slow`), to
    enqueue their jobs and read them from a test."""
    runner = TaskRunner(url)

    @runner.task(name="record")
    async def record(n: int) -> int:
        return n

    @runner.task(name="slow", retries=1)
    async def slow(seconds: float) -> str:
        return "slept"

    return runner


async def check_sigterm_drain(runner: TaskRunner, worker: WorkerProcess) -> None:
    """A started ledger-app worker of concurrency 1, sent SIGTERM while a slow job runs and
    another waits: the running one finishes, the waiting one is left queued."""
    await started([worker])
    running = await runner.tasks["slow"].enqueue(1.5)
    await eventually(lambda: state_is(runner, running.id, JobState.RUNNING))
    waiting = await runner.tasks["record"].enqueue(1)
    await stop([worker])
    assert (await running.info()).state is JobState.SUCCEEDED
    assert (await waiting.info()).state is JobState.QUEUED
