"""The threads `def` tasks run in: started within the worker's limit, their outcome carried
back as raised, and left behind (they cannot be interrupted) when the worker stops waiting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from taskrunner.backend import JobRecord

log = logging.getLogger("taskrunner.job")


def _captured(run: Callable[[], Any]) -> tuple[bool, Any]:
    """Call `run` (in a thread): whether it returned, and its value or what it raised. The
    exception travels as a value so that it reaches the attempt as raised (asyncio turns a
    future's `CancelledError` into a cancelled future)."""
    try:
        return True, run()
    except BaseException as exc:
        return False, exc


def _read_result(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned thread's outcome as read: asyncio would log it as never retrieved."""
    if not future.cancelled():
        future.exception()


def start_thread(
    run: Callable[[], Any], limiter: anyio.CapacityLimiter
) -> asyncio.Future[tuple[bool, Any]]:
    """Call `run` in a thread taken from `limiter`: the future answers whether it returned,
    and its value or what it raised. Cancelling the future abandons the thread."""
    thread = asyncio.ensure_future(
        anyio.to_thread.run_sync(_captured, run, abandon_on_cancel=True, limiter=limiter)
    )
    thread.add_done_callback(_read_result)
    return thread


def leave_behind(thread: asyncio.Future[Any], record: JobRecord) -> None:
    """Stop waiting for the thread that runs an attempt of `record`'s job."""
    thread.cancel()  # the function runs on in its thread; nothing waits for it any more
    log.warning(
        "job %s: attempt %d ends while its def function still runs in its thread, which "
        "cannot be interrupted: the worker stops waiting for it (it ends with the process)",
        record.id,
        record.attempt,
    )
