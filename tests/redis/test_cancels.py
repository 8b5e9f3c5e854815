"""Cancel requests pushed over pub/sub survive a dropped subscription connection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
import redis.asyncio as aioredis

from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from tests.redis.conftest import REDIS_URL


@pytest.fixture
async def sender(redis_url: str) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(redis_url)
    await backend.connect()
    yield backend
    await backend.close()


async def kill_subscribers_named(name: str) -> int:
    """Close the server side of the pub/sub connections named `name`; answers how many."""
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        clients = await admin.client_list(_type="pubsub")
        ids = [client["id"] for client in clients if client.get("name") == name]
        for client_id in ids:
            await admin.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        await admin.aclose()


async def test_cancel_requests_are_heard_again_after_the_subscription_drops(
    redis_url: str, sender: RedisBackend
) -> None:
    name = f"taskrunner-test-{uuid.uuid4().hex[:12]}"  # to find this listener's connection
    listener = RedisBackend(f"{redis_url}&client_name={name}")
    await listener.connect()
    try:
        job = new_job()
        await sender.enqueue([job])
        await sender.claim(["default"], 1, "w-1", 30)
        async with listener.cancel_requests() as requests:
            assert await kill_subscribers_named(name) == 1
            # requests sent while the subscription is down are missed (the heartbeat has
            # them); one sent once it is back is heard
            with anyio.fail_after(20):
                while True:
                    await sender.cancel([job.id], ttl=None)
                    with anyio.move_on_after(0.5):
                        assert await anext(requests) == [job.id]
                        break
    finally:
        await listener.close()
