"""Two jobs that each run until the test creates the file `release`.

With `--concurrency 1` the first runs and the second waits its turn: signal tests stop the
worker while the first is running.
"""

from __future__ import annotations

from taskrunner import State, TaskRunner
from tests.apps import report_states, touch, wait_for_file

runner = TaskRunner()
job_ids: dict[str, str] = {}


@runner.task(retries=0)
async def hold(label: str) -> str:
    touch(f"started-{label}")
    await wait_for_file("release")
    touch(f"finished-{label}")
    return label


@runner.on_startup
async def enqueue(state: State) -> None:
    for label in ("first", "second"):
        job_ids[label] = (await hold.enqueue(label)).id


@runner.on_shutdown
async def report(state: State) -> None:
    await report_states(runner, job_ids)
