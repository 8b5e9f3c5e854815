"""`taskrunner run` processes whose tasks misbehave: a task raising `SystemExit` or
`KeyboardInterrupt` must not end the worker, and threads that never return must not keep
it from exiting. The apps (tests/apps) talk to the test through files."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import anyio
import pytest

from tests.apps import DIR_ENV, STATES_FILE
from tests.procs import WorkerProcess

pytestmark = pytest.mark.slow


def start(app: str, tmp_path: Path, *args: str) -> tuple[WorkerProcess, Path]:
    signals = tmp_path / "signals"
    signals.mkdir()
    worker = WorkerProcess(app, *args, log_dir=tmp_path, env={DIR_ENV: str(signals)})
    return worker, signals


async def wait_for_file(worker: WorkerProcess, path: Path, timeout: float = 30.0) -> None:
    with anyio.fail_after(timeout):
        while not await anyio.Path(path).exists():
            assert worker.proc.poll() is None, f"the worker exited:\n{worker.output()}"
            await anyio.sleep(0.02)


async def test_tasks_raising_system_exit_or_keyboard_interrupt_fail_and_the_worker_goes_on(
    tmp_path: Path,
) -> None:
    worker, signals = start("tests.apps.unruly:runner", tmp_path)
    try:
        await wait_for_file(worker, signals / "started-beside")
        await worker.wait_for_output("interrupted) failed", timeout=30)
        await worker.wait_for_output("quit_cleanly) failed", timeout=30)
        await worker.wait_for_output("resize) failed", timeout=30)
        (signals / "release").write_text("")
        await wait_for_file(worker, signals / "finished-beside")
        await anyio.sleep(0.5)
        assert worker.proc.poll() is None, worker.output()  # still running, still serving
        worker.signal(signal.SIGTERM)
        assert await worker.wait(30) == 0, worker.output()
    finally:
        worker.kill()
    outcomes = json.loads((signals / "errors.json").read_text())
    assert outcomes == {
        "beside": ["succeeded", None],  # ran once, beside the others, to its end
        "resize": ["failed", "SystemExit"],
        "quit": ["failed", "SystemExit"],
        "interrupted": ["failed", "KeyboardInterrupt"],
    }
    assert "usage: resize" in worker.output()  # argparse's own message, then the failure


async def test_threads_that_never_return_do_not_keep_the_worker_from_exiting(
    tmp_path: Path,
) -> None:
    worker, signals = start("tests.apps.stuck:runner", tmp_path, "--grace", "0.5")
    try:
        await wait_for_file(worker, signals / "started-hangs")
        await wait_for_file(worker, signals / "leaked")
        worker.signal(signal.SIGTERM)
        assert await worker.wait(30) == 1, worker.output()  # 1: a job was put back
    finally:
        worker.kill()
    states = json.loads((signals / STATES_FILE).read_text())
    assert states == {"hangs": "queued", "leaks": "succeeded"}
    log = worker.output()
    assert "its def function still runs in its thread" in log
    assert "leaked-by-a-task" in log  # named in the warning about threads left running
