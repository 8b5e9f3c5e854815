"""What an attempt's failure is recorded as: `JobError`s from exceptions, the errors the
worker raises itself (a timeout, a stray cancellation), and why a claimed job cannot run at
all (an unknown task, no attempt left, a payload that does not decode or fit the task)."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Mapping
from typing import Any

from taskrunner._serialization import decode_call
from taskrunner.backend import JobRecord
from taskrunner.errors import (
    InvalidArguments,
    JobError,
    SerializationError,
    StrayCancellation,
    TaskTimeout,
)
from taskrunner.job import cut, message_of
from taskrunner.task import Task

Call = tuple[list[Any], dict[str, Any], dict[str, Any]]  # args, kwargs, meta

TRACEBACK_LIMIT = 32 * 1024


def error_of(exc: BaseException) -> JobError:
    """What to record of an exception: its qualified type name, its message (at most
    `MESSAGE_LIMIT` characters) and its traceback (at most `TRACEBACK_LIMIT`)."""
    cls = type(exc)
    name = cls.__qualname__
    if cls.__module__ != "builtins":
        name = f"{cls.__module__}.{name}"
    message = message_of(exc)
    try:
        text = "".join(traceback.format_exception(exc))
    except Exception:  # the __str__ that failed above fails here again
        text = ""
    return JobError(name, message, cut(text, TRACEBACK_LIMIT))


def stray(exc: asyncio.CancelledError) -> StrayCancellation:
    """The failure of a task that raised `CancelledError` the worker did not cause."""
    detail = message_of(exc)
    error = StrayCancellation(
        "the task raised CancelledError although the worker did not cancel it (a cancelled "
        "inner operation whose CancelledError escaped the task?)"
        + (f": {detail}" if detail else "")
    )
    error.__cause__ = exc
    return error


def timed_out(timeout: float | None, detail: str) -> TaskTimeout:
    """The failure of an attempt that ran past its task's `timeout`."""
    return TaskTimeout(f"the attempt ran longer than its timeout of {timeout:g}s{detail}")


def unrunnable(record: JobRecord, tasks: Mapping[str, Task[..., Any]]) -> JobError:
    """Why a claimed job cannot run at all, asked once it is known that it cannot: no task
    of its name is registered, or its last attempt's worker died (no attempt is left, see
    `past_last_attempt`)."""
    if record.task not in tasks:
        known = ", ".join(sorted(tasks)[:20]) or "none"
        return JobError(
            "UnknownTask",
            f"no task named {record.task!r} is registered in this worker (registered: "
            f"{known}); check the task name and that the worker imports the module "
            "defining it",
        )
    return JobError(
        "LeaseExpired",
        f"attempt {record.attempt - 1} of {record.max_attempts} stopped renewing its "
        "lease (its worker crashed or was killed) and no attempts are left",
    )


def call_of(record: JobRecord, task: Task[..., Any]) -> Call | JobError:
    """The stored call's args, kwargs and meta, or why the call cannot be made: the payload
    does not decode, or its arguments do not fit the task (a signature changed between
    the enqueue and now)."""
    try:
        args, kwargs, meta = decode_call(record.payload)
        task.arguments.check(args, kwargs)
    except SerializationError as exc:
        return JobError("UndecodablePayload", message_of(exc))
    except InvalidArguments as exc:
        return JobError(
            "InvalidArguments", f"{exc}; was its signature changed since the job was stored?"
        )
    return args, kwargs, meta
