"""arq on Redis. Library defaults throughout: pickle serializer, results kept 3600 s,
`poll_delay` 0.5 s, up to 5 tries; `max_jobs` is the workload's concurrency."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func
from kit.library import Unsupported
from kit.main import main
from kit.probe import BODIES
from kit.protocol import Spec
from kit.workers import until_stopped

QUEUE = "arq:queue"


def _job(name: str) -> Any:
    body = BODIES[name]

    async def job(ctx: dict[str, Any], seq: int) -> None:
        await body(seq)

    return func(job, name=name)


class Arq:
    name = "arq"
    in_process = False

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.settings = RedisSettings.from_dsn(spec.url)
        self._pool: ArqRedis | None = None

    def unavailable(self) -> str | None:
        return None if self.spec.backend == "redis" else "arq runs on Redis only"

    @property
    def pool(self) -> ArqRedis:
        assert self._pool is not None
        return self._pool

    async def open(self) -> None:
        self._pool = await create_pool(self.settings)

    async def close(self) -> None:
        await self.pool.aclose()

    async def enqueue(self, task: str, seq: int, delay: float = 0.0) -> None:
        await self.pool.enqueue_job(task, seq, _defer_by=delay or None)

    async def enqueue_batch(self, task: str, seqs: range) -> None:
        raise Unsupported("arq has no bulk enqueue")

    async def unfinished(self) -> int:
        # arq keeps a job in the queue's sorted set until its result is written.
        return int(await self.pool.zcard(QUEUE))

    async def serve(self, concurrency: int, stop: asyncio.Event) -> None:
        worker = Worker(
            functions=[_job(name) for name in BODIES],
            redis_settings=self.settings,
            max_jobs=concurrency,
            handle_signals=False,
        )
        running = asyncio.create_task(worker.async_run())
        await until_stopped(running, stop)
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()
            await running


if __name__ == "__main__":
    main(Arq)
