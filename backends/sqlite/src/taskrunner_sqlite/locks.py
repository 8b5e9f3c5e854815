"""Waiting for another process's lock on the file, in short steps.

SQLite's own busy handler (`PRAGMA busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25,
50, 50 and then 100 ms between its tries. A claim or a batch of completions holds the write
lock for about a millisecond, so a process that found it taken slept on long after it was
free: three worker processes on one file spent more time asleep in that handler than
writing (their whole drain slower than one process's). The store's connection therefore has
no busy handler (`busy_timeout` 0) and `when_free` tries again itself, after 0.1 ms at
first, doubling to at most 2 ms, until `busy_timeout` seconds have passed. A failed try
costs a few microseconds of CPU; the lock is no fairer than before (nor less fair).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FIRST_PAUSE = 0.0001
LONGEST_PAUSE = 0.002


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether `exc` says another connection holds a lock (SQLITE_BUSY and its variants)."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


def when_free(
    attempt: Callable[[], T], timeout: float, pause: Callable[[float], object] = time.sleep
) -> T:
    """What `attempt()` answers, tried again while it fails because another connection
    holds a lock, for up to `timeout` seconds; then its last error is raised."""
    deadline: float | None = None
    step = FIRST_PAUSE
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            now = time.monotonic()
            deadline = now + timeout if deadline is None else deadline
            if now >= deadline:
                raise
        pause(step * (500 + secrets.randbelow(501)) / 1000)  # jitter: no lockstep
        step = min(step * 2, LONGEST_PAUSE)
