"""Staying subscribed to one Redis pub/sub channel across lost connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from redis.asyncio import Redis

log = logging.getLogger("taskrunner.redis")


async def stay_subscribed(
    client: Redis,
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
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
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
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
