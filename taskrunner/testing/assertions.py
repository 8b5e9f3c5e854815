"""Assertions about what a runner's backend holds: what was enqueued, what failed, what is
left. Each failure message lists the jobs it looked at, as calls (`app.send(7, to='a')`)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from taskrunner.backend import JobState
from taskrunner.job import JobInfo
from taskrunner.runner import TaskRunner
from taskrunner.task import Task
from taskrunner.testing.stored import (
    UNFINISHED,
    call_text,
    is_tick,
    listing,
    stored_jobs,
    task_name,
    waits_to_retry,
)


async def enqueued(runner: TaskRunner, task: Task[..., Any] | str | None = None) -> list[JobInfo]:
    """The jobs the runner's backend holds (of `task`, a task or its name, if given),
    oldest first, whatever became of them since: finished ones too, until their records
    expire."""
    return await stored_jobs(runner, task)


async def assert_enqueued(
    runner: TaskRunner, task: Task[..., Any] | str, /, *args: Any, **kwargs: Any
) -> JobInfo:
    """Assert that a job of `task` (a task, or its name) was enqueued with these
    arguments, whatever became of it since; answers the first such job.

    Given the task itself, arguments compare as the function receives them: bound to its
    signature, so `send(7)` matches `send(user_id=7)` and a default left out matches the
    default given. Tuples compare as the lists JSON turns them into, and
    `unittest.mock.ANY` matches any value."""
    name = task_name(task)
    if isinstance(task, Task):
        task.arguments.check(args, kwargs)  # a call the task could not take: InvalidArguments
    expected = _call(task, args, kwargs)
    jobs = await stored_jobs(runner)
    for info in jobs:
        if info.task != name or info.args is None:
            continue
        if expected == _call(task, info.args, info.kwargs):
            return info
    raise AssertionError(
        f"no job {call_text(name, args, kwargs)} was enqueued; the jobs enqueued:\n" + listing(jobs)
    )


async def assert_not_enqueued(runner: TaskRunner, task: Task[..., Any] | str) -> None:
    """Assert that no job of `task` (a task, or its name) was enqueued."""
    jobs = await stored_jobs(runner, task)
    if jobs:
        raise AssertionError(f"{len(jobs)} job(s) of {task_name(task)} enqueued:\n{listing(jobs)}")


async def assert_no_failures(runner: TaskRunner) -> None:
    """Assert that no job failed: none ended `failed`, none waits to retry an attempt that
    raised. (A job whose retry succeeded did not fail.)"""
    failed = [
        info
        for info in await stored_jobs(runner)
        if info.state is JobState.FAILED or waits_to_retry(info)
    ]
    if failed:
        first = failed[0].error
        trace = ""
        if first is not None and first.traceback:
            trace = f"\nthe first one's traceback:\n{first.traceback}"
        raise AssertionError(f"{len(failed)} job(s) failed:\n{listing(failed)}{trace}")


async def assert_nothing_queued(runner: TaskRunner) -> None:
    """Assert that every job has finished: none is queued, scheduled (a delayed job, or a
    retry waiting for its backoff), waiting on other jobs or running. A recurring task's
    next tick, which a running worker always keeps enqueued, does not count."""
    left = [
        info for info in await stored_jobs(runner) if info.state in UNFINISHED and not is_tick(info)
    ]
    if left:
        raise AssertionError(f"{len(left)} job(s) not finished:\n{listing(left)}")


def _call(
    task: Task[..., Any] | str,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
) -> object:
    """A call's arguments as comparable values: bound to the task's signature when it is
    known and they fit it, else as they are; tuples as lists."""
    args, kwargs = _as_stored(list(args or ())), _as_stored(dict(kwargs or {}))
    if isinstance(task, Task):
        try:
            bound = inspect.signature(task.fn).bind(*args, **kwargs)
        except (TypeError, ValueError):  # arguments stored for another version of the task
            pass
        else:
            bound.apply_defaults()
            return _as_stored(dict(bound.arguments))
    return (args, kwargs)


def _as_stored(value: Any) -> Any:
    """`value` with its tuples turned into lists, as JSON stores it."""
    if isinstance(value, list | tuple):
        return [_as_stored(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_stored(item) for key, item in value.items()}
    return value
