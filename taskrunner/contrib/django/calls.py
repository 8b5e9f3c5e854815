"""What a worker runs for a Django task: the task's function, called as Django expects.

Around each call the function closes the database connections that are stale or past
`CONN_MAX_AGE` (`close_old_connections`, what Django does around each request), in the
thread that runs the task: a `def` task's worker thread, or for an `async def` task the
thread where Django runs its sync code (`sync_to_async`). It passes a `TaskContext` to a
task declared with `takes_context=True`, and sends the framework's `task_started` and
`task_finished` signals.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from taskrunner.backend import JobState
from taskrunner.context import current_job
from taskrunner.contrib.django.framework import (
    DjangoTask,
    TaskContext,
    TaskResult,
    TaskResultStatus,
    task_finished,
    task_started,
)
from taskrunner.contrib.django.results import task_error, task_result
from taskrunner.errors import TaskrunnerError
from taskrunner.job import JobInfo
from taskrunner.worker.failures import error_of


class TaskSource(Protocol):
    """Where a job function finds the Django task it runs (a `Registry`): `declared` holds
    the tasks by module path, `alias` names the backend, `sender` sends the signals."""

    @property
    def alias(self) -> str: ...
    @property
    def sender(self) -> type: ...
    @property
    def declared(self) -> Mapping[str, DjangoTask]: ...


def job_function(source: TaskSource, path: str, task: DjangoTask) -> Callable[..., Any]:
    """The function registered with taskrunner for the Django task at `path`: `async def`
    for a coroutine function, plain `def` (run in a worker thread) otherwise, with the
    task's signature less its `context` parameter, so that taskrunner checks a call's
    arguments at enqueue."""

    def run_sync(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return _run(source, path, args, kwargs)
        finally:
            close_old_connections()

    async def run_async(*args: Any, **kwargs: Any) -> Any:
        await sync_to_async(close_old_connections)()
        try:
            return await _arun(source, path, args, kwargs)
        finally:
            await sync_to_async(close_old_connections)()

    function: Callable[..., Any] = run_async if inspect.iscoroutinefunction(task.func) else run_sync
    function.__name__ = task.func.__name__
    function.__qualname__ = task.func.__qualname__
    function.__module__ = task.func.__module__
    function.__doc__ = task.func.__doc__
    function.__signature__ = call_signature(task)  # type: ignore[attr-defined]
    return function


def call_signature(task: DjangoTask) -> inspect.Signature:
    """The arguments a caller passes: the function's, less `context` when the framework
    passes it."""
    signature = inspect.signature(task.func)
    parameters = list(signature.parameters.values())
    if task.takes_context:
        parameters = parameters[1:]
    return signature.replace(parameters=parameters)


def _run(source: TaskSource, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    task = source.declared[path]
    result = _running(source, task)
    task_started.send(sender=source.sender, task_result=result)
    try:
        if task.takes_context:
            value = task.func(TaskContext(task_result=result), *args, **kwargs)
        else:
            value = task.func(*args, **kwargs)
    except BaseException as exc:
        _finish(source, result, exc, None)
        raise
    _finish(source, result, None, value)
    return value


async def _arun(
    source: TaskSource, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    task = source.declared[path]
    result = _running(source, task)
    await sync_to_async(task_started.send)(sender=source.sender, task_result=result)
    try:
        if task.takes_context:
            value = await task.func(TaskContext(task_result=result), *args, **kwargs)
        else:
            value = await task.func(*args, **kwargs)
    except BaseException as exc:
        await sync_to_async(_finish)(source, result, exc, None)
        raise
    await sync_to_async(_finish)(source, result, None, value)
    return value


def _running(source: TaskSource, task: DjangoTask) -> TaskResult[Any]:
    """The `TaskResult` of the running job, for the task's context and the signals."""
    info = JobInfo.from_record(current_job().record)
    return task_result(task, replace(info, state=JobState.RUNNING), source.alias)


def _finish(
    source: TaskSource, result: TaskResult[Any], exc: BaseException | None, value: Any
) -> None:
    """Bring `result` to the attempt's end and send `task_finished`: SUCCESSFUL with the
    value, or the error added and FAILED (READY when another attempt follows)."""
    now = timezone.now()
    if exc is None:
        object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
        object.__setattr__(result, "_return_value", value)
    else:
        result.errors.append(task_error(error_of(exc)))
        again = _retried(exc)
        status = TaskResultStatus.READY if again else TaskResultStatus.FAILED
        object.__setattr__(result, "status", status)
    if result.status != TaskResultStatus.READY:
        object.__setattr__(result, "finished_at", now)
    task_finished.send(sender=source.sender, task_result=result)


def _retried(exc: BaseException) -> bool:
    """Whether taskrunner gives the job another attempt after this exception."""
    try:
        job = current_job()
    except TaskrunnerError:
        return False
    return job.retries_left > 0 and isinstance(exc, Exception)
