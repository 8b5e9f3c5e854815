"""docs/getting-started.md, followed as written: its files written out, its commands run."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
import subprocess
from pathlib import Path

from tests.examples.conftest import REDIS_URL, REPO, shell_env, spawn
from tests.examples.markdown_blocks import code_blocks, shell_commands

PAGE = REPO / "docs" / "getting-started.md"


def write_files(directory: Path) -> list[str]:
    names = []
    for block in code_blocks(PAGE):
        if block.title is not None:
            (directory / block.title).write_text(block.body)
            names.append(block.title)
    return names


def page_commands() -> list[list[str]]:
    commands = []
    for block in code_blocks(PAGE):
        if block.language == "bash":
            commands += shell_commands(block.body)
    return commands


async def run(command: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


async def test_the_page_works_as_written(redis_prefix: str, tmp_path: Path) -> None:
    assert write_files(tmp_path) == ["tasks.py", "main.py", "enqueue.py"]
    commands = page_commands()
    # installing (uv sync, uv build, pip): the environment this test runs in; the wheels'
    # build and install into a fresh virtualenv are run as written by .ci/wheels
    installs = (["uv", "sync"], ["uv", "build"])
    walkthrough = [c for c in commands if c[0] != "pip" and c[:2] not in installs]
    exports = [c for c in walkthrough if c[0] == "export"]
    assert [c for c in walkthrough if c[0] != "export"] == [
        ["python", "examples/quickstart.py"],
        ["python", "main.py"],
        ["taskrunner", "run", "tasks:runner"],
        ["python", "enqueue.py"],
    ]

    # a first worker: embedded, on the memory backend
    printed = await run(["python", "main.py"], tmp_path, shell_env())
    assert re.fullmatch(r"job \S+ is queued", printed[0])
    assert printed[1:] == ["welcome mail sent to ada@example.com"]

    # a worker process, through Redis (the documented URL, with a key prefix of the test's)
    assert {c[1] for c in exports} == {"TASKRUNNER_URL=redis://127.0.0.1:6379/0"}
    env = shell_env(TASKRUNNER_URL=f"{REDIS_URL}?prefix={redis_prefix}")
    log = tmp_path / "worker.log"
    with spawn("taskrunner run tasks:runner", tmp_path, env, log) as worker:
        printed = await run(["python", "enqueue.py"], tmp_path, env)
        assert re.fullmatch(r"enqueued job \S+", printed[0])
        assert printed[1:] == ["welcome mail sent to ada@example.com"]
        worker.send_signal(signal.SIGINT)  # Ctrl-C
        assert await asyncio.to_thread(worker.wait, 30) == 0, log.read_text()
    assert "stopped: 1 succeeded" in log.read_text()
    assert shlex.join(["taskrunner", "run", "tasks:runner"]) in PAGE.read_text()
