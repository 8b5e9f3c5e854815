"""The pytest plugin: registered through its entry point, fixtures named `taskrunner_*`, the
`taskrunner_app` ini option, and an app's runner given back after each test."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from taskrunner import TaskRunner
from taskrunner.memory import MemoryBackend
from taskrunner.testing import Clock, Harness
from taskrunner.testing.plugin import app_runner

APP = TaskRunner("memory://")


def test_pytest_finds_the_plugin_through_its_entry_point(
    pytestconfig: pytest.Config,
) -> None:
    plugins = importlib.metadata.entry_points(group="pytest11")
    (entry,) = [e for e in plugins if e.name == "taskrunner"]
    assert entry.value == "taskrunner.testing.plugin"
    assert pytestconfig.pluginmanager.has_plugin("taskrunner")


async def test_the_fixtures_share_one_runner_and_clock(
    taskrunner_harness: Harness, taskrunner_runner: TaskRunner, taskrunner_clock: Clock
) -> None:
    assert taskrunner_runner is taskrunner_harness.runner
    assert taskrunner_clock is taskrunner_harness.clock
    assert isinstance(taskrunner_runner.backend, MemoryBackend)
    assert taskrunner_runner.backend.clock is taskrunner_clock


def test_the_ini_option_names_a_runner() -> None:
    assert app_runner("") is None
    assert app_runner("tests.test_testing_plugin:APP") is APP
    with pytest.raises(pytest.UsageError, match=r"write module\.path:attribute"):
        app_runner("tests.test_testing_plugin")
    with pytest.raises(pytest.UsageError, match="is not a TaskRunner"):
        app_runner("tests.test_testing_plugin:APP_RUNNER")


APP_MODULE = """
from taskrunner import TaskRunner

runner = TaskRunner("memory://")
ORIGINAL = runner.backend


@runner.task
async def greet(name: str) -> str:
    return f"hello {name}"
"""

TEST_MODULE = """
import pytest

import app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_the_app_runner_on_a_fresh_backend(taskrunner_runner, taskrunner_harness):
    assert taskrunner_runner is app.runner
    assert taskrunner_runner.backend is not app.ORIGINAL
    await app.greet.enqueue("ada")
    await taskrunner_harness.assert_enqueued(app.greet, "ada")


def test_a_test_without_the_fixtures_finds_the_runner_as_it_was():
    assert app.runner.backend is app.ORIGINAL


async def test_and_the_next_one_starts_afresh(taskrunner_harness):
    assert await taskrunner_harness.enqueued() == []
"""


def test_a_project_points_the_fixtures_at_its_runner(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP_MODULE)
    (tmp_path / "test_app.py").write_text(TEST_MODULE)
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent("""
            [tool.pytest.ini_options]
            taskrunner_app = "app:runner"
        """)
    )
    without_url = {k: v for k, v in os.environ.items() if k != "TASKRUNNER_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**without_url, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
