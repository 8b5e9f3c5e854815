"""A taskrunner job as the Tasks framework shows it: `JobInfo` -> `TaskResult`.

Status: a job that waits (on dependencies, in its queue, or for its due time, a retry's
included) is READY, a running one RUNNING, a succeeded one SUCCESSFUL; a failed or cancelled
one FAILED, the framework having no other end for a task that did not succeed. Each failed
attempt adds a `TaskError`, and `worker_ids` holds one worker per attempt that started, so
`TaskResult.attempts` counts them as taskrunner does.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from taskrunner.backend import AttemptOutcome, JobState
from taskrunner.contrib.django.framework import Task, TaskError, TaskResult, TaskResultStatus
from taskrunner.errors import JobError
from taskrunner.job import JobInfo

STATUS = {
    JobState.WAITING: TaskResultStatus.READY,
    JobState.QUEUED: TaskResultStatus.READY,
    JobState.SCHEDULED: TaskResultStatus.READY,
    JobState.RUNNING: TaskResultStatus.RUNNING,
    JobState.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    JobState.FAILED: TaskResultStatus.FAILED,
    JobState.CANCELLED: TaskResultStatus.FAILED,
}

# the errors a worker records without an exception of the task's, as the exception classes
# `TaskError.exception_class` resolves them to
_WORKER_ERRORS = {
    "UnknownTask": "taskrunner.errors.ConfigurationError",
    "InvalidArguments": "taskrunner.errors.InvalidArguments",
    "UndecodablePayload": "taskrunner.errors.SerializationError",
    "UnserializableResult": "taskrunner.errors.SerializationError",
    "Cancelled": "asyncio.CancelledError",
}
_FAILED_ATTEMPT = {AttemptOutcome.FAILED, AttemptOutcome.RETRY, AttemptOutcome.LOST}


def task_result(task: Task[Any, Any], info: JobInfo, alias: str) -> TaskResult[Any]:
    """The `TaskResult` of the job `info` describes, a job of `task` on backend `alias`."""
    attempts = info.attempts
    starts = [a.started_at for a in attempts if a.started_at is not None]
    if info.started_at is not None:
        starts.append(info.started_at)
    result: TaskResult[Any] = TaskResult(
        task=task,
        id=info.id,
        status=STATUS[info.state],
        enqueued_at=info.enqueued_at,
        started_at=min(starts, default=None),
        finished_at=info.finished_at if info.finished else None,
        last_attempted_at=max(starts, default=None),
        args=info.args or [],
        kwargs=info.kwargs or {},
        backend=alias,
        errors=errors_of(info),
        worker_ids=workers_of(info),
    )
    if info.state is JobState.SUCCEEDED:
        object.__setattr__(result, "_return_value", info.result)  # as the framework's own do
    return result


def ready_result(
    task: Task[Any, Any], job_id: str, args: Any, kwargs: Any, alias: str, now: datetime
) -> TaskResult[Any]:
    """The `TaskResult` of a job about to be stored (its arguments normalized and checked
    by the framework as JSON)."""
    return TaskResult(
        task=task,
        id=job_id,
        status=TaskResultStatus.READY,
        enqueued_at=now,
        started_at=None,
        finished_at=None,
        last_attempted_at=None,
        args=list(args),
        kwargs=dict(kwargs),
        backend=alias,
        errors=[],
        worker_ids=[],
    )


def errors_of(info: JobInfo) -> list[TaskError]:
    """One `TaskError` per failed attempt, oldest first, and the job's own error if it
    ended with one no attempt recorded (cancelled while it waited, refused by the worker)."""
    errors = [
        a.error for a in info.attempts if a.outcome in _FAILED_ATTEMPT and a.error is not None
    ]
    ended = info.state in (JobState.FAILED, JobState.CANCELLED)
    if ended and info.error is not None and (not errors or errors[-1] != info.error):
        errors.append(info.error)
    elif ended and not errors:
        errors.append(JobError("Cancelled", f"the job was {info.state.value}"))
    return [task_error(error) for error in errors]


def task_error(error: JobError) -> TaskError:
    """A recorded error as the framework's `TaskError`: the exception's class path and the
    traceback (or, for an error the worker recorded itself, its type and message)."""
    path = error.type
    if "." not in path:
        builtin = getattr(builtins, path, None)
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            path = f"builtins.{path}"
        else:
            path = _WORKER_ERRORS.get(path, "taskrunner.errors.TaskrunnerError")
    text = error.traceback or f"{error.type}: {error.message}\n"
    return TaskError(exception_class_path=path, traceback=text)


def workers_of(info: JobInfo) -> list[str]:
    """The worker of each attempt that started, by attempt number ("" where unknown)."""
    workers = {a.attempt: a.worker or "" for a in info.attempts}
    if info.state is JobState.RUNNING:
        workers[info.attempt] = info.worker or ""
    count = max([info.attempt, *workers], default=0)
    return [workers.get(number, "") for number in range(1, count + 1)]
