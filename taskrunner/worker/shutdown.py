"""A stopping worker's running jobs: they get the worker's grace to end, then are cancelled
(and so put back in their queue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import anyio

from taskrunner.worker.execution import Execution
from taskrunner.worker.waits import until

log = logging.getLogger("taskrunner.worker")


async def let_running_end(
    running: Mapping[tuple[str, int], Execution],
    grace: float,
    hard_stop: asyncio.Event,
    worker: str,
) -> None:
    """Wait up to `grace` seconds (less if `hard_stop` is set meanwhile) for the attempts in
    `running` to end, then cancel those still running, for the reason "shutdown"."""
    if not running:
        return
    log.info(
        "worker %s stopping: waiting up to %gs for %d running jobs", worker, grace, len(running)
    )
    tasks = [e.task for e in running.values() if e.task]
    with anyio.move_on_after(grace):
        # asyncio.wait, not gather: cancelling a gather would cancel the jobs without a
        # reason, before `cancel("shutdown")` below gives them theirs
        await until(asyncio.wait(tasks), hard_stop)
    leftover = list(running.values())
    if leftover:
        log.warning(
            "worker %s: putting back %d jobs that did not finish in time", worker, len(leftover)
        )
        for execution in leftover:
            execution.cancel("shutdown")
        await asyncio.wait([e.task for e in leftover if e.task], timeout=5.0)
