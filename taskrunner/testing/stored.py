"""What a runner's backend holds, read back for the test helpers, and how a job reads in
their messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taskrunner.backend import AttemptOutcome, JobState
from taskrunner.job import JobInfo
from taskrunner.runner import TaskRunner
from taskrunner.task import Task
from taskrunner.worker.scheduler import tick_key

PAGE = 1000  # the most jobs `list_jobs` answers at once

UNFINISHED = (JobState.WAITING, JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING)


async def stored_jobs(
    runner: TaskRunner, task: Task[..., Any] | str | None = None
) -> list[JobInfo]:
    """Every job the runner's backend holds (of `task`, if given), oldest first, with their
    attempts. The backend must list jobs (`Inspection`): the memory backend does."""
    name = None if task is None else task_name(task)
    ids: list[str] = []
    before: str | None = None
    while True:
        page = await runner.list_jobs(task=name, limit=PAGE, before=before)
        ids.extend(job.id for job in page.jobs)
        if page.next is None:
            break
        before = page.next
    found = await runner.get_jobs(ids[::-1])
    return [info for info in found if info is not None]


def task_name(task: Task[..., Any] | str) -> str:
    return task.name if isinstance(task, Task) else task


def waits_to_retry(info: JobInfo) -> bool:
    """Whether the job's last attempt raised and it waits for its next one."""
    return (
        info.state is JobState.SCHEDULED
        and bool(info.attempts)
        and info.attempts[-1].outcome is AttemptOutcome.RETRY
    )


def is_tick(info: JobInfo) -> bool:
    """Whether the job is a recurring task's tick, which a running worker keeps enqueued."""
    return info.key is not None and info.key == tick_key(info.task, info.run_at.timestamp())


def call_text(task: str, args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> str:
    """`task(1, 'a', flag=True)`: a call as Python would write it."""
    if args is None or kwargs is None:
        return f"{task}(<undecodable arguments>)"
    shown = [repr(value) for value in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{task}({', '.join(shown)})"


def job_line(info: JobInfo) -> str:
    """One job, for a failure message: its call, its state and what it is waiting for."""
    call = call_text(info.task, info.args, info.kwargs)
    state = info.state
    if waits_to_retry(info):
        return (
            f"{call}  attempt {info.attempt} raised {error_text(info)}; "
            f"the next is due {info.run_at.isoformat()}"
        )
    if state is JobState.SCHEDULED:
        return f"{call}  scheduled for {info.run_at.isoformat()}"
    if state is JobState.FAILED and info.error is not None:
        return f"{call}  failed after {info.attempt} attempt(s): {error_text(info)}"
    return f"{call}  {state.value}"


def error_text(info: JobInfo) -> str:
    error = info.error
    return "" if error is None else f"{error.type}: {error.message}"


def listing(jobs: Sequence[JobInfo], indent: str = "  ") -> str:
    """The jobs, one a line; `nothing` when there are none."""
    if not jobs:
        return f"{indent}nothing"
    return "\n".join(indent + job_line(info) for info in jobs)
