"""Signals over Redis: the pub/sub channels that wake `wait_finished` callers and push
cancel requests to workers, and the blocking wait on several queues' wake lists.

Finished jobs: a waiter lists the job in its queue's `waiters` set, with a deadline, before
checking the job; the script that finishes a listed job publishes its id. A script run that
finds the set empty, as a busy queue nobody waits on does, looks no further: one check per
run, not per job.

Cancel requests: `cancel()` publishes the ids of the running jobs it flagged on `P:cancels`,
as a JSON list. Pub/sub is not keyed by slot, so the channel needs no hash tag to fit Redis
Cluster. A backend whose workers listen keeps one subscription and hands the ids to each
listener (see `taskrunner.backend.fanout`). A message missed while the subscription is down
is not sent again: the worker's next heartbeat reads the job's cancel flag, which is what
stops the job anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import orjson
from redis.exceptions import RedisError

from taskrunner.backend import Fanout, Inbox, within
from taskrunner_redis.clients import Client, Subscriber

log = logging.getLogger("taskrunner.redis")

SUBSCRIBE_WAIT = 5.0  # seconds listen() waits for the subscription before going on without
RECANCEL_AFTER = 0.05  # seconds call_off() gives cancelled tasks before cancelling them again
T = TypeVar("T")


async def stay_subscribed(
    subscriber: Subscriber,
    channel: str,
    on_message: Callable[[bytes], None],
    *,
    subscribed: asyncio.Event,
    on_subscribed: Callable[[], None] | None = None,
    what: str,
) -> None:
    """Hand each message of `channel` to `on_message`, until cancelled.

    `subscribed` is set while the subscription holds. A lost connection is replaced (with a
    growing delay) and the channel subscribed again; messages published meanwhile are gone,
    so `on_subscribed` is called after each subscription to let callers look again.
    """
    failures = 0
    while True:
        try:
            async with subscriber() as pubsub:
                await pubsub.subscribe(channel)
                subscribed.set()
                failures = 0
                if on_subscribed is not None:
                    on_subscribed()
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        on_message(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            subscribed.clear()
            failures += 1
            delay = min(0.1 * 2**failures, 5.0) * random.uniform(0.5, 1.0)
            log.warning(
                "%s subscription lost (%s: %s); resubscribing in %.1fs",
                what,
                type(exc).__name__,
                exc,
                delay,
            )
            await asyncio.sleep(delay)


async def stop(task: asyncio.Task[None] | None) -> None:
    """Cancel a subscriber task and wait for it to end."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class FinishedWaiters:
    """One subscriber task per backend; an event per job id someone waits for."""

    def __init__(self, subscriber: Subscriber, channel: str) -> None:
        self._subscriber = subscriber
        self._channel = channel
        self._events: dict[str, set[asyncio.Event]] = {}
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 10.0) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="taskrunner-redis-finished")
        if not await within(self._subscribed.wait(), timeout):
            raise TimeoutError(f"no subscription within {timeout}s")

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
            self._subscriber,
            self._channel,
            lambda data: self._wake(data.decode()),
            subscribed=self._subscribed,
            on_subscribed=self._wake_all,  # messages may have been missed while unsubscribed
            what="finished-job",
        )

    async def close(self) -> None:
        await stop(self._task)
        self._task = None


async def wait_until(
    event: asyncio.Event, timeout: float, check: Callable[[], Awaitable[tuple[bool, T | None]]]
) -> T | None:
    """Run `check` now and each time `event` is set (clearing it before), until it answers
    (True, value): answers the value; None once `timeout` seconds passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event.clear()
        done, value = await check()
        if done:
            return value
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        if not await within(event.wait(), remaining):
            return None


class CancelChannel:
    """Publishes and listens for cancel requests; one subscription per backend, on demand."""

    def __init__(self, channel: str) -> None:
        self._channel = channel
        self._fanout = Fanout()
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def publish(self, client: Client, ids: Sequence[str]) -> None:
        """Tell listening workers that the running jobs `ids` were asked to stop. The
        request is stored already: a failure here only delays it to the next heartbeat."""
        try:
            await client.publish(self._channel, orjson.dumps(list(ids)))
        except (RedisError, OSError) as exc:
            log.warning(
                "could not push cancel requests to workers (%s: %s); they pick them up at "
                "their next heartbeat",
                type(exc).__name__,
                exc,
            )

    @contextlib.asynccontextmanager
    async def listen(self, subscriber: Subscriber) -> AsyncIterator[Inbox]:
        """An inbox of the ids published while the block runs. Entering waits (a little)
        for the subscription; if Redis is unreachable it goes on and the subscription
        follows once Redis is back."""
        async with self._fanout.inbox() as inbox:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(
                    stay_subscribed(
                        subscriber,
                        self._channel,
                        self._received,
                        subscribed=self._subscribed,
                        what="cancel-request",
                    ),
                    name="taskrunner-redis-cancels",
                )
            await within(self._subscribed.wait(), SUBSCRIBE_WAIT)
            yield inbox

    def _received(self, data: bytes) -> None:
        try:
            ids = orjson.loads(data)
        except orjson.JSONDecodeError:
            ids = None
        if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
            self._fanout.publish(ids)
        else:
            log.warning("ignored a message on %s that is not a list of job ids", self._channel)

    async def close(self) -> None:
        """Stop the subscription."""
        if self._task is not None:
            await stop(self._task)
            self._task = None
            self._subscribed.clear()


async def first_wake(client: Client, keys: Sequence[str], timeout: float) -> None:
    """Block on several queues' wake lists until one has a token (or the time is up).

    One BLPOP per list, each on its own connection: a BLPOP on several keys must keep to one
    cluster slot, and each queue has its own. The others are cancelled once one returns.
    """

    async def block(key: str) -> None:
        await client.blpop([key], timeout=timeout)

    waits = [asyncio.create_task(block(key)) for key in keys]
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a lost connection surfaces here
    finally:
        await call_off(waits)


async def call_off(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until they end, cancelling again any that went on.

    A pop cancelled in redis-py 8 while it is being sent on a reused connection sometimes
    lets the cancel go and blocks until its read times out (seconds, seen here with Python
    3.11). Cancelled again while it reads, it ends at once, and its connection is closed,
    so the server stops blocking on it.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_AFTER)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: an error of a called-off pop is of no interest
