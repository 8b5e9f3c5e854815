"""Small apps that tests/test_cli.py runs as real `taskrunner run` worker processes.

The memory backend lives in the worker process, so each app enqueues its own jobs in an
`on_startup` hook. Apps talk to the test through files in the directory named by the
`TASKRUNNER_TEST_DIR` environment variable: jobs create files to say how far they got and
wait for files the test creates, and `on_shutdown` hooks write the final job states.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from taskrunner import TaskRunner

DIR_ENV = "TASKRUNNER_TEST_DIR"
STATES_FILE = "states.json"


def signal_dir() -> Path:
    return Path(os.environ[DIR_ENV])


def touch(name: str, text: str = "") -> None:
    """Create a signal file atomically, so the test never reads it half written."""
    target = signal_dir() / name
    partial = target.with_name(f".{name}.partial")
    partial.write_text(text)
    partial.replace(target)


async def wait_for_file(name: str, timeout: float = 60.0) -> None:
    """Wait until the test creates `name` (bounded, so a forgotten job cannot hang)."""
    path = signal_dir() / name
    deadline = asyncio.get_running_loop().time() + timeout
    while not path.exists():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout}s")
        await asyncio.sleep(0.01)


async def report_states(runner: TaskRunner, job_ids: dict[str, str]) -> None:
    """Write each job's state, by label, for the test to read after the process exits."""
    infos = await runner.get_jobs(list(job_ids.values()))
    states = {
        label: "missing" if info is None else info.state.value
        for label, info in zip(job_ids, infos, strict=True)
    }
    touch(STATES_FILE, json.dumps(states))
