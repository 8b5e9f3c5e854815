"""Cancel requests pushed to workers at once: Redis pub/sub on one channel per prefix.

`cancel()` publishes the ids of the running jobs it flagged on `P:cancels`, as a JSON list.
Pub/sub is not keyed by slot, so the channel needs no hash tag to fit Redis Cluster. A
backend whose workers listen keeps one subscription and hands the ids to each listener (see
`taskrunner.fanout`). A message missed while the subscription is down is not sent again:
the worker's next heartbeat reads the job's cancel flag, which is what stops the job anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from taskrunner.backend import Fanout, Inbox
from taskrunner_redis.subscription import stay_subscribed

log = logging.getLogger("taskrunner.redis")

SUBSCRIBE_WAIT = 5.0  # seconds listen() waits for the subscription before going on without


class CancelChannel:
    """Publishes and listens for cancel requests; one subscription per backend, on demand."""

    def __init__(self, channel: str) -> None:
        self._channel = channel
        self._fanout = Fanout()
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def publish(self, client: Redis, ids: Sequence[str]) -> None:
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
    async def listen(self, client: Redis) -> AsyncIterator[Inbox]:
        """An inbox of the ids published while the block runs. Entering waits (a little)
        for the subscription; if Redis is unreachable it goes on and the subscription
        follows once Redis is back."""
        async with self._fanout.inbox() as inbox:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(
                    stay_subscribed(
                        client,
                        self._channel,
                        self._received,
                        subscribed=self._subscribed,
                        what="cancel-request",
                    ),
                    name="taskrunner-redis-cancels",
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), SUBSCRIBE_WAIT)
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
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
            self._subscribed.clear()
