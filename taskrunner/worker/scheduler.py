"""Recurring jobs without a cron daemon.

Every worker may run this loop. It keeps the job for each recurring task's next tick
enqueued ahead of time, keyed by the tick, so the backend stores one job per tick however
many workers try. Ticks are computed from the backend's clock: a tick is only enqueued
while it is still in the future there, so a finished tick is never enqueued again. After
downtime the tick that was pending runs once; the missed ones are not replayed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from taskrunner._serialization import encode_payload
from taskrunner.backend.waiting import within
from taskrunner.task import EnqueueOptions, PreparedJob, Task, new_job
from taskrunner.telemetry import tracing
from taskrunner.worker.host import WorkerHost

log = logging.getLogger("taskrunner.scheduler")

LONGEST_SLEEP = 60.0
WAKE_MARGIN = 0.002  # wake just after the tick, so the clock has passed it


def tick_key(task_name: str, tick: float) -> str:
    return f"schedule:{task_name}:{tick:.3f}"


def tick_job(task: Task[..., Any], tick: float) -> PreparedJob[Any]:
    options = EnqueueOptions(key=tick_key(task.name, tick), at=tick)
    payload = encode_payload((), {}, meta=tracing.link_meta() if tracing.ENABLED else None)
    return PreparedJob(task, new_job(task.settings, options, payload, task.flow_of((), {})))


async def enqueue_next_ticks(runner: WorkerHost, tasks: Sequence[Task[..., Any]]) -> float:
    """Make sure each task's next tick has its job; answers seconds until the first tick."""
    now = await runner.backend.now()
    ticks = [task.settings.schedule.next_after(now) for task in tasks if task.settings.schedule]
    jobs = await runner.enqueue_many(
        tick_job(task, tick) for task, tick in zip(tasks, ticks, strict=True)
    )
    for job, task, tick in zip(jobs, tasks, ticks, strict=True):
        if not job.duplicate:
            log.debug("scheduled %s for tick %.3f as job %s", task.name, tick, job.id)
    return min(ticks) - now


async def run_scheduler(
    runner: WorkerHost, tasks: Sequence[Task[..., Any]], stopping: asyncio.Event
) -> None:
    failures = 0
    while not stopping.is_set():
        try:
            wait = min(await enqueue_next_ticks(runner, tasks), LONGEST_SLEEP) + WAKE_MARGIN
            failures = 0
        except Exception as exc:
            failures += 1
            wait = min(0.5 * 2**failures, 30.0)
            log.warning(
                "scheduler: could not enqueue recurring jobs (%s: %s); again in %.0fs",
                type(exc).__name__,
                exc,
                wait,
            )
        await within(stopping.wait(), max(wait, WAKE_MARGIN))
