"""Waiting on work that an event may cut short (the worker stopping, a slot freeing)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def until(work: Awaitable[Any], *events: asyncio.Event) -> None:
    """Await `work` unless one of `events` is set first (then `work` is cancelled)."""
    tasks = [asyncio.ensure_future(work), *(asyncio.ensure_future(e.wait()) for e in events)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    for task in done:
        if task is tasks[0] and not task.cancelled():
            task.result()
