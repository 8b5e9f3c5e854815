"""One job on each of the queues `alpha`, `beta` and `default`, for `--queue`."""

from __future__ import annotations

from taskrunner import State, TaskRunner
from tests.apps import report_states, touch

runner = TaskRunner()
job_ids: dict[str, str] = {}


@runner.task(queue="alpha")
async def on_alpha() -> None:
    touch("ran-alpha")


@runner.task(queue="beta")
async def on_beta() -> None:
    touch("ran-beta")


@runner.task
async def on_default() -> None:
    touch("ran-default")


@runner.on_startup
async def enqueue(state: State) -> None:
    job_ids["alpha"] = (await on_alpha.enqueue()).id
    job_ids["beta"] = (await on_beta.enqueue()).id
    job_ids["default"] = (await on_default.enqueue()).id


@runner.on_shutdown
async def report(state: State) -> None:
    await report_states(runner, job_ids)
