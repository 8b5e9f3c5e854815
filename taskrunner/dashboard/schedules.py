"""The schedules page: each recurring task's schedule in words, its next run, its last run
and how that ended, and a "run now" button that enqueues the task at once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.responses import Response

from taskrunner.backend import Inspection, JobState
from taskrunner.dashboard.context import Form, View
from taskrunner.errors import TaskrunnerError
from taskrunner.job import JobInfo, utc_time
from taskrunner.schedules import Cron, Every, Schedule
from taskrunner.task import Task

UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
LOOKED_BACK = 20  # jobs of a task read to find its last run


def in_words(schedule: Schedule) -> str:
    """`every 30 seconds`, `every 1 hour 30 minutes`, `cron 0 9 * * mon (Europe/Paris)`."""
    if isinstance(schedule, Every):
        return "every " + duration_in_words(schedule.interval)
    if isinstance(schedule, Cron):
        return f"cron {schedule.expression} ({schedule.tz})"
    return schedule.describe()


def duration_in_words(interval: float) -> str:
    """A duration as days, hours, minutes and seconds, largest first, zeros left out."""
    parts = []
    left = interval
    for name, size in UNITS:
        count = int(left // size) if size > 1 else left
        if count:
            shown = f"{count:g}" if isinstance(count, float) else str(count)
            parts.append(f"{shown} {name}{'' if count == 1 else 's'}")
            left -= count * size
    return " ".join(parts) or f"{interval:g} seconds"


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """One recurring task as the schedules page shows it."""

    task: str
    queue: str
    schedule: str
    next_run: datetime
    next_in: float
    upcoming: str | None  # the job already enqueued for the next tick
    last: JobInfo | None  # the latest job of the task that started


async def schedules(view: View) -> Response:
    """`GET /schedules`."""
    now = await view.runner.backend.now() if view.runner.tasks else time.time()
    rows = [
        await schedule_row(view, name, task, schedule, now)
        for name, task in sorted(view.runner.tasks.items())
        if (schedule := task.settings.schedule) is not None
    ]
    if not view.runner.tasks:
        empty = (
            "No task code is loaded, so the schedules are unknown: start the dashboard "
            "with the app (taskrunner dashboard module.path:runner)."
        )
    else:
        empty = "No task has a schedule."
    return view.page("schedules.html", "Schedules", rows=rows, empty=empty)


async def schedule_row(
    view: View, name: str, task: Task[..., Any], schedule: Schedule, now: float
) -> ScheduleRow:
    tick = schedule.next_after(now)
    upcoming, last = await recent_jobs(view, name)
    return ScheduleRow(
        task=name,
        queue=task.settings.queue,
        schedule=in_words(schedule),
        next_run=utc_time(tick),
        next_in=tick - now,
        upcoming=upcoming,
        last=last,
    )


async def recent_jobs(view: View, task: str) -> tuple[str | None, JobInfo | None]:
    """The job waiting for the task's next tick, and its latest job that started, where
    the backend can list jobs (None, None elsewhere)."""
    if not isinstance(view.runner.backend, Inspection):
        return None, None
    page = await view.runner.list_jobs(task=task, limit=LOOKED_BACK)
    upcoming = next((j.id for j in page.jobs if j.state is JobState.SCHEDULED), None)
    last = next((j for j in page.jobs if j.started_at is not None or j.attempts), None)
    return upcoming, last


async def run_now(view: View, form: Form) -> Response:
    """`POST /schedules/{task}/run`: enqueue the recurring task now, off its schedule."""
    name = str(view.request.path_params["task"])
    task = view.runner.tasks.get(name)
    if task is None or task.settings.schedule is None:
        return view.message("No such schedule", "No recurring task has that name.", 404)
    try:
        job = await task.enqueue()
    except TaskrunnerError as exc:
        return view.message("Cannot run it now", str(exc), 400)
    return view.redirect(f"/jobs/{job.id}", notice="enqueued")
