"""SAQ on Redis or on Postgres (`PostgresQueue`). Library defaults throughout: JSON
serializer, job records kept 600 s after they finish (`ttl`), one attempt (`retries=1`),
job timeout 10 s; `concurrency` is the workload's."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kit.library import Unsupported
from kit.main import main
from kit.probe import BODIES
from kit.protocol import Spec
from kit.workers import until_stopped
from saq import Queue, Worker

QUEUE_NAME = "bench"


def _job(name: str) -> tuple[str, Any]:
    body = BODIES[name]

    async def job(ctx: dict[str, Any], *, seq: int) -> None:
        await body(seq)

    return name, job


class Saq:
    name = "saq"
    in_process = False

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._queue: Queue | None = None

    def unavailable(self) -> str | None:
        return None if self.spec.backend in {"redis", "postgres"} else "SAQ needs Redis or Postgres"

    def _new_queue(self) -> Queue:
        return Queue.from_url(self.spec.url, name=QUEUE_NAME)

    @property
    def queue(self) -> Queue:
        assert self._queue is not None
        return self._queue

    async def open(self) -> None:
        self._queue = self._new_queue()
        await self._queue.connect()

    async def close(self) -> None:
        await self.queue.disconnect()

    async def enqueue(self, task: str, seq: int, delay: float = 0.0) -> None:
        scheduled = int(time.time() + delay) if delay else 0
        await self.queue.enqueue(task, seq=seq, scheduled=scheduled)

    async def enqueue_batch(self, task: str, seqs: range) -> None:
        raise Unsupported("SAQ has no bulk enqueue (Queue.map gathers single enqueues)")

    async def unfinished(self) -> int:
        return await self.queue.count("incomplete")

    async def serve(self, concurrency: int, stop: asyncio.Event) -> None:
        queue = self._new_queue()
        await queue.connect()
        worker = Worker(queue, functions=[_job(name) for name in BODIES], concurrency=concurrency)
        running = asyncio.create_task(worker.start())
        try:
            await until_stopped(running, stop)
            await worker.stop()
            await running
        finally:
            await queue.disconnect()


if __name__ == "__main__":
    main(Saq)
