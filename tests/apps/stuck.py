"""A `def` task whose function never returns, and a task that leaves a non-daemon thread
running: neither may keep `taskrunner run` from exiting after SIGTERM."""

from __future__ import annotations

import threading

from taskrunner import State, TaskRunner
from tests.apps import report_states, touch

runner = TaskRunner()
job_ids: dict[str, str] = {}
never = threading.Event()


@runner.task(retries=0)
def hangs() -> None:
    touch("started-hangs")
    never.wait()


@runner.task
async def leaks_a_thread() -> None:
    threading.Thread(target=never.wait, name="leaked-by-a-task").start()
    touch("leaked")


@runner.on_startup
async def enqueue(state: State) -> None:
    job_ids["hangs"] = (await hangs.enqueue()).id
    job_ids["leaks"] = (await leaks_a_thread.enqueue()).id


@runner.on_shutdown
async def report(state: State) -> None:
    await report_states(runner, job_ids)
