"""`within`: a wait with a timeout that keeps a cancel arriving as the wait ends (which
`asyncio.wait_for` loses on Python 3.11, and with it a worker's stop)."""

from __future__ import annotations

import asyncio

import pytest

from taskrunner.backend import within


async def test_says_whether_the_awaited_thing_finished_in_time() -> None:
    event = asyncio.Event()
    assert await within(event.wait(), 0.01) is False
    event.set()
    assert await within(event.wait(), 10) is True


async def test_a_future_left_when_time_runs_out_is_cancelled() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    assert await within(future, 0.01) is False
    assert future.cancelled()


async def test_a_cancel_that_comes_as_the_wait_ends_is_kept() -> None:
    event = asyncio.Event()
    went_on: list[bool] = []

    async def wait_once() -> None:
        await within(event.wait(), 10)
        went_on.append(True)

    task = asyncio.create_task(wait_once())
    await asyncio.sleep(0)  # the task now waits on the event
    event.set()
    task.cancel()  # in the same turn: the wait ends and the cancel arrives
    with pytest.raises(asyncio.CancelledError):
        await task
    assert went_on == []
