"""procrastinate on Postgres (psycopg 3 connector). Library defaults throughout: jobs kept
after they finish (`delete_jobs="never"`), LISTEN/NOTIFY plus a 5 s polling fallback, no
retries unless configured; `concurrency` is the workload's."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from kit.main import main
from kit.probe import BODIES
from kit.protocol import Spec
from kit.workers import until_stopped
from procrastinate import App, PsycopgConnector
from procrastinate.types import JSONDict

UNFINISHED = "SELECT count(*) AS n FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
HAS_SCHEMA = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"


def _job(name: str) -> Any:
    body = BODIES[name]

    async def job(seq: int) -> None:
        await body(seq)

    return job


class Procrastinate:
    name = "procrastinate"
    in_process = False

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.app = App(connector=PsycopgConnector(conninfo=spec.url))
        for name in BODIES:
            self.app.task(name=name)(_job(name))

    def unavailable(self) -> str | None:
        return None if self.spec.backend == "postgres" else "procrastinate runs on Postgres only"

    async def open(self) -> None:
        await self.app.open_async()
        found = await self.app.connector.execute_query_one_async(HAS_SCHEMA)
        if not found["present"]:
            await self.app.schema_manager.apply_schema_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def enqueue(self, task: str, seq: int, delay: float = 0.0) -> None:
        at = datetime.now(UTC) + timedelta(seconds=delay) if delay else None
        await self.app.tasks[task].configure(schedule_at=at).defer_async(seq=seq)

    async def enqueue_batch(self, task: str, seqs: range) -> None:
        calls: list[JSONDict] = [{"seq": seq} for seq in seqs]
        await self.app.tasks[task].batch_defer_async(*calls)

    async def unfinished(self) -> int:
        row = await self.app.connector.execute_query_one_async(UNFINISHED)
        return int(row["n"])

    async def serve(self, concurrency: int, stop: asyncio.Event) -> None:
        async with self.app.open_async():
            running = asyncio.create_task(
                self.app.run_worker_async(concurrency=concurrency, install_signal_handlers=False)
            )
            await until_stopped(running, stop)
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running


if __name__ == "__main__":
    main(Procrastinate)
