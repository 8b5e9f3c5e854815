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
