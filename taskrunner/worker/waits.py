"""Waiting on work that an event may cut short (the worker stopping, a slot freeing), and an
idle worker's wait, which a backend that can may end with jobs claimed (`ClaimingWait`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from taskrunner.backend import Backend, ClaimingWait, JobRecord
from taskrunner.worker.settings import WorkerSettings
from taskrunner.worker.slots import QueueSlots


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


async def idle_wait(
    backend: Backend,
    slots: QueueSlots,
    settings: WorkerSettings,
    free: int,
    worker: str,
    stopping: asyncio.Event,
    slot_free: asyncio.Event,
) -> list[JobRecord]:
    """Wait until a job may be due on the queues with room (at most `settings.poll`
    seconds), or the worker stops, or (while a queue is at its limit) a slot frees; the
    jobs the wait claimed for the worker's `free` slots, if the backend claims so.

    A claiming wait runs in the worker's own task, with no task or event of its own (a
    wake-up reaches the claim sooner): the worker's `stop()` calls it off instead."""
    wake_on = slots.wake_events(slot_free)
    queues = slots.open_queues()
    if not wake_on and isinstance(backend, ClaimingWait) and backend.claims_on_wake(queues):
        return await backend.wait_claiming(queues, settings.poll, free, worker, settings.lease)
    await until(slots.wait(backend, settings.poll), stopping, *wake_on)
    return []


def call_off(backend: Backend, worker: str) -> None:
    """End `worker`'s claiming wait, if the backend has them (see `idle_wait`)."""
    if isinstance(backend, ClaimingWait):
        backend.call_off(worker)
