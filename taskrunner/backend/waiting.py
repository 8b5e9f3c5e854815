"""Waiting with a timeout without losing a cancel.

On Python 3.11, `asyncio.wait_for` returns normally when the awaited thing finishes in the
same loop turn as the waiting task is cancelled: the cancel is lost, and a loop meant to end
(a worker's wait for jobs, a listener at close) runs one more round on a closed backend.
`within` awaits in the caller's own task under `asyncio.timeout`, which keeps the cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def within(awaitable: Awaitable[object], timeout: float) -> bool:
    """Await `awaitable` for at most `timeout` seconds: True if it finished in time, False
    if the time ran out (a future is then cancelled). A cancel of the caller is never lost."""
    try:
        async with asyncio.timeout(max(timeout, 0.0)):
            await awaitable
    except TimeoutError:
        return False
    return True
