"""What an attempt's failure is recorded as: `JobError`s from exceptions, and the errors the
worker raises itself (a timeout, a stray cancellation)."""

from __future__ import annotations

import asyncio
import traceback

from taskrunner.errors import JobError, StrayCancellation, TaskTimeout
from taskrunner.job import cut, message_of

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
