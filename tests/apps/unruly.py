"""Tasks that raise what is not an `Exception` (`SystemExit` from argparse, `SystemExit(0)`,
`KeyboardInterrupt` in a thread) while another job runs beside them until the test creates
`release`. The shutdown hook writes each job's state and error type to `errors.json`."""

from __future__ import annotations

import argparse
import json

from taskrunner import State, TaskRunner
from tests.apps import touch, wait_for_file

runner = TaskRunner()
job_ids: dict[str, str] = {}


@runner.task
def resize(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="resize")
    parser.add_argument("--width", type=int, required=True)
    return int(parser.parse_args(argv).width)


@runner.task
async def quit_cleanly() -> None:
    raise SystemExit(0)


@runner.task
def interrupted() -> None:
    raise KeyboardInterrupt


@runner.task
async def beside() -> str:
    touch("started-beside")
    await wait_for_file("release")
    touch("finished-beside")
    return "finished"


@runner.on_startup
async def enqueue(state: State) -> None:
    job_ids["beside"] = (await beside.enqueue()).id
    job_ids["resize"] = (await resize.enqueue(["--width", "wide"])).id
    job_ids["quit"] = (await quit_cleanly.enqueue()).id
    job_ids["interrupted"] = (await interrupted.enqueue()).id


@runner.on_shutdown
async def report(state: State) -> None:
    infos = await runner.get_jobs(list(job_ids.values()))
    outcomes = {
        label: [info.state.value, info.error.type if info.error else None]
        for label, info in zip(job_ids, infos, strict=True)
        if info is not None
    }
    touch("errors.json", json.dumps(outcomes))
