"""The pytest plugin, loaded by pytest through the `pytest11` entry point `taskrunner`.

Fixtures, all named `taskrunner_*`, each made only for a test that asks for it:

- `taskrunner_clock`: a `Clock` at the current time (whole seconds); override the fixture
  to start elsewhere.
- `taskrunner_harness`: a `Harness`: the runner under test on a fresh memory backend on
  that clock, with the helpers bound to it. The runner is the one the `taskrunner_app`
  ini option names (`module.path:attribute`), else a new `TaskRunner` for each test.
- `taskrunner_runner`: that runner.
- `taskrunner_eager`: that runner in eager mode for the whole test.

The async fixtures run on anyio's pytest plugin (installed with taskrunner), as the tests
that use them should (`@pytest.mark.anyio`). Loading the plugin imports taskrunner's core
and nothing heavier (no backend client, web framework or CLI); a test that asks for none
of these fixtures gets nothing from it.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from taskrunner.runner import TaskRunner
    from taskrunner.testing.clock import Clock
    from taskrunner.testing.harness import Harness

APP_OPTION = "taskrunner_app"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        APP_OPTION,
        "the runner the taskrunner_* fixtures work with, as module.path:attribute "
        "(default: a new TaskRunner for each test)",
        default="",
    )


@pytest.fixture
def taskrunner_clock() -> Clock:
    """A `Clock` at the current time (whole seconds), which moves only when told to."""
    from taskrunner.testing.clock import Clock

    return Clock()


@pytest.fixture
async def taskrunner_harness(
    taskrunner_clock: Clock, request: pytest.FixtureRequest, anyio_backend: object
) -> AsyncIterator[Harness]:
    """The runner under test on a fresh memory backend on `taskrunner_clock`, with the
    helpers bound to both; afterwards the runner gets its previous backend back."""
    from taskrunner.testing.harness import memory_harness

    runner = app_runner(str(request.config.getini(APP_OPTION)))
    async with memory_harness(runner, clock=taskrunner_clock) as harness:
        yield harness


@pytest.fixture
def taskrunner_runner(taskrunner_harness: Harness) -> TaskRunner:
    """The runner of `taskrunner_harness`."""
    return taskrunner_harness.runner


@pytest.fixture
async def taskrunner_eager(
    taskrunner_harness: Harness, anyio_backend: object
) -> AsyncIterator[TaskRunner]:
    """The runner of `taskrunner_harness`, in eager mode for the whole test."""
    async with taskrunner_harness.eager() as runner:
        yield runner


def app_runner(target: str) -> TaskRunner | None:
    """The runner that `module.path:attribute` names (None for ""), imported."""
    if not target:
        return None
    from taskrunner.runner import TaskRunner

    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise pytest.UsageError(f"{APP_OPTION} = {target!r}: write module.path:attribute")
    runner = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(runner, TaskRunner):
        raise pytest.UsageError(f"{APP_OPTION} = {target!r} is not a TaskRunner: {runner!r}")
    return runner
