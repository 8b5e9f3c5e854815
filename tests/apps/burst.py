"""Five due jobs (async and plain `def`) and one due in an hour, for `--burst`."""

from __future__ import annotations

from taskrunner import State, TaskRunner
from tests.apps import report_states, touch

runner = TaskRunner()
job_ids: dict[str, str] = {}


@runner.task
async def quick(n: int) -> int:
    touch(f"done-{n}")
    return n


@runner.task
def quick_in_a_thread(n: int) -> int:
    touch(f"done-{n}")
    return n


@runner.on_startup
async def enqueue(state: State) -> None:
    for n in range(3):
        job_ids[f"async-{n}"] = (await quick.enqueue(n)).id
    for n in range(3, 5):
        job_ids[f"sync-{n}"] = (await quick_in_a_thread.enqueue(n)).id
    job_ids["later"] = (await quick.options(delay=3600).enqueue(99)).id


@runner.on_shutdown
async def report(state: State) -> None:
    await report_states(runner, job_ids)
