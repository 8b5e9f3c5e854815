"""The task registry on Redis: the specs in a hash of their own slot, and a copy in the slot
of each queue a job of theirs may be enqueued on by the taskrunner_enqueue function (each
task's own queue, and every queue the publishing worker serves); published again by the
worker's reclaim once Redis lost them."""

from __future__ import annotations

import redis.asyncio as aioredis

from taskrunner import TaskRunner
from taskrunner.registry import TaskSpec
from taskrunner_redis import RedisBackend
from tests.redis.conftest import REDIS_URL


def make_runner(url: str) -> TaskRunner:
    runner = TaskRunner(url)

    @runner.task(name="mail.send", queue="mail", retries=2)
    async def send(to: str) -> None: ...

    @runner.task(name="feeds.fetch", queue="feeds")
    async def fetch(url: str) -> None: ...

    return runner


async def copies(prefix: str, queue: str) -> dict[bytes | str, bytes | str]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return await client.hgetall(f"{prefix}:{{{queue}}}:tasks")
    finally:
        await client.aclose()


async def test_a_worker_copies_its_specs_beside_each_queue_it_serves(
    redis_url: str, redis_prefix: str
) -> None:
    runner = make_runner(redis_url)
    await runner.worker(queues=["mail", "bulk"], burst=True).run()
    peer = RedisBackend(redis_url)
    await peer.connect()
    try:
        specs = await peer.task_specs()
        assert sorted(specs) == ["feeds.fetch", "mail.send"]
        assert TaskSpec.decode(specs["mail.send"]).max_attempts == 3
        for queue in ("mail", "feeds", "bulk"):  # its tasks' queues, and those it served
            assert await copies(redis_prefix, queue) == {k.encode(): v for k, v in specs.items()}
        assert await copies(redis_prefix, "other") == {}
        assert {"mail", "feeds", "bulk"} <= set(await peer.stats())  # listed as queues
    finally:
        await peer.close()
        await runner.close()


async def test_reclaim_publishes_again_what_redis_lost(redis_url: str, redis_prefix: str) -> None:
    backend = RedisBackend(redis_url)
    await backend.connect()
    try:
        spec = b'{"format":1,"name":"a.b","queue":"q1"}'
        await backend.publish_tasks({"a.b": spec})
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            await client.delete(f"{redis_prefix}:{{@tasks}}:specs", f"{redis_prefix}:{{q1}}:tasks")
        finally:
            await client.aclose()
        assert await backend.task_specs() == {}
        await backend.reclaim()
        assert await backend.task_specs() == {"a.b": spec}
        assert await copies(redis_prefix, "q1") == {b"a.b": spec}
    finally:
        await backend.close()
