"""taskiq with taskiq-redis: `RedisStreamBroker` (consumer group, acknowledged after the
result is saved, the CLI's default ack type) and `RedisAsyncResultBackend` (results kept,
no expiry, its default). One receiver in one process with `max_async_tasks` = the
workload's concurrency, as `taskiq worker --workers 1 --max-async-tasks N` runs it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kit.library import Unsupported
from kit.main import main
from kit.probe import BODIES
from kit.protocol import Spec
from kit.workers import until_stopped
from redis.asyncio import Redis
from taskiq import AsyncBroker
from taskiq.api import run_receiver_task
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

STREAM = "taskiq"
GROUP = "taskiq"


def _job(name: str) -> Any:
    body = BODIES[name]

    async def job(seq: int) -> None:
        await body(seq)

    return job


class Taskiq:
    name = "taskiq"
    in_process = False

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.broker = self._new_broker()
        self.tasks = {
            name: self.broker.register_task(_job(name), task_name=name) for name in BODIES
        }

    def _new_broker(self) -> AsyncBroker:
        url = self.spec.url
        backend: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(url)
        return RedisStreamBroker(url, queue_name=STREAM).with_result_backend(backend)

    def unavailable(self) -> str | None:
        return None if self.spec.backend == "redis" else "taskiq-redis runs on Redis only"

    async def open(self) -> None:
        await self.broker.startup()

    async def close(self) -> None:
        await self.broker.shutdown()

    async def enqueue(self, task: str, seq: int, delay: float = 0.0) -> None:
        if delay:
            raise Unsupported("taskiq delays jobs only through a separate scheduler process")
        await self.tasks[task].kiq(seq)

    async def enqueue_batch(self, task: str, seqs: range) -> None:
        raise Unsupported("taskiq has no bulk enqueue")

    async def unfinished(self) -> int:
        assert isinstance(self.broker, RedisStreamBroker)
        async with Redis(connection_pool=self.broker.connection_pool) as redis:
            groups = await redis.xinfo_groups(STREAM)
        group = next(g for g in groups if g["name"] in {GROUP, GROUP.encode()})
        return int(group["pending"]) + int(group["lag"] or 0)

    async def serve(self, concurrency: int, stop: asyncio.Event) -> None:
        running = asyncio.create_task(
            run_receiver_task(self.broker, max_async_tasks=concurrency, run_startup=True)
        )
        await until_stopped(running, stop)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await self.broker.shutdown()


if __name__ == "__main__":
    main(Taskiq)
