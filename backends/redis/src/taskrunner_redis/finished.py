"""Waking `wait_finished` callers without polling: Redis pub/sub on one channel.

A waiter lists the job in its queue's `waiters` set, with a deadline, before checking the
job; the script that finishes a listed job publishes its id. A script run that finds the set
empty, as a busy queue nobody waits on does, looks no further: one check per run, not per job.
"""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis

from taskrunner_redis.subscription import stay_subscribed


class FinishedWaiters:
    """One subscriber task per backend; an event per job id someone waits for."""

    def __init__(self, client: Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._events: dict[str, set[asyncio.Event]] = {}
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 10.0) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="taskrunner-redis-finished")
        await asyncio.wait_for(self._subscribed.wait(), timeout)

    def add(self, job_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._events.setdefault(job_id, set()).add(event)
        return event

    def remove(self, job_id: str, event: asyncio.Event) -> None:
        events = self._events.get(job_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._events[job_id]

    def _wake(self, job_id: str) -> None:
        for event in self._events.get(job_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()

    async def _listen(self) -> None:
        await stay_subscribed(
            self._client,
            self._channel,
            lambda data: self._wake(data.decode()),
            subscribed=self._subscribed,
            on_subscribed=self._wake_all,  # messages may have been missed while unsubscribed
            what="finished-job",
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
