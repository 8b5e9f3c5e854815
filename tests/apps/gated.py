"""Four jobs that hold until the test creates `gate`; the app records the most that ran at
once, which `--concurrency` must bound."""

from __future__ import annotations

from dataclasses import dataclass

from taskrunner import State, TaskRunner
from tests.apps import report_states, touch, wait_for_file

JOBS = 4

runner = TaskRunner()
job_ids: dict[str, str] = {}


@dataclass
class Occupancy:
    now: int = 0
    peak: int = 0


occupancy = Occupancy()


@runner.task
async def hold(n: int) -> None:
    occupancy.now += 1
    occupancy.peak = max(occupancy.peak, occupancy.now)
    touch(f"started-{n}")
    try:
        await wait_for_file("gate")
    finally:
        occupancy.now -= 1


@runner.on_startup
async def enqueue(state: State) -> None:
    for n in range(JOBS):
        job_ids[str(n)] = (await hold.enqueue(n)).id


@runner.on_shutdown
async def report(state: State) -> None:
    touch("peak", str(occupancy.peak))
    await report_states(runner, job_ids)
