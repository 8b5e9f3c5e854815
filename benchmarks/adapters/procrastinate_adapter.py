"""procrastinate on Postgres (psycopg 3 connector). Library defaults throughout: jobs kept
after they finish (`delete_jobs="never"`), LISTEN/NOTIFY plus a 5 s polling fallback, no
retries unless configured; `concurrency` is the workload's.

A sync app (see `kit.sync`) defers with the synchronous `Task.defer` through an app of its
own whose connector is a `SyncPsycopgConnector`, the one procrastinate's docs name for sync
apps: "classic" blocking I/O on a `psycopg_pool.ConnectionPool` of psycopg's default size
(4 connections), opened with `App.open()`, that threads share."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from kit.main import main
from kit.probe import BODIES
from kit.protocol import Spec
from kit.workers import until_stopped
from procrastinate import App, PsycopgConnector, SyncPsycopgConnector
from procrastinate.connector import BaseConnector
from procrastinate.types import JSONDict

UNFINISHED = "SELECT count(*) AS n FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
HAS_SCHEMA = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"


def _job(name: str) -> Any:
    body = BODIES[name]

    async def job(seq: int) -> None:
        await body(seq)

    return job


def _app(connector: BaseConnector) -> App:
    """An app with every task of the workloads declared on it."""
    app = App(connector=connector)
    for name in BODIES:
        app.task(name=name)(_job(name))
    return app


class Procrastinate:
    name = "procrastinate"
    in_process = False

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.app = _app(PsycopgConnector(conninfo=spec.url))
        self._sync_app: App | None = None  # the sync app's, see open_sync

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

    async def sync_unavailable(self) -> str | None:
        return None

    def open_sync(self) -> None:
        self._sync_app = _app(SyncPsycopgConnector(conninfo=self.spec.url))
        self._sync_app.open()

    def enqueue_sync(self, task: str, seq: int) -> None:
        assert self._sync_app is not None
        self._sync_app.tasks[task].defer(seq=seq)

    def close_sync(self) -> None:
        if self._sync_app is not None:
            self._sync_app.close()
            self._sync_app = None

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
