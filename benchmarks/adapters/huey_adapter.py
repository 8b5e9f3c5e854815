"""huey on SQLite (`SqliteHuey`), and on Redis (`RedisHuey`) and Postgres (`PostgresHuey`)
for the blocking-enqueue workload only (see `kit.sync`: a huey task is enqueued by calling
it, a blocking call, as a thread of a sync app does). Library defaults throughout: pickle
serializer, WAL journal, SQLite's default `synchronous` (FULL), results of non-None returns
kept until read, no retries; the consumer with `workers` threads (`-k thread`, its default
kind), the workload's concurrency, polling an empty queue every 0.1 s backing off to 10 s.
`RedisHuey` takes the URL as its `url=` and its default redis-py connection pool, which
threads share; `PostgresHuey` the URL as its `dsn=`, with its one connection behind a lock.

The worker is huey's consumer as `huey_consumer` builds it (`huey.create_consumer` with
the command line's settings), started with `Consumer.start()` (its threads and signal
handlers) and stopped with `Consumer.stop(graceful=True)`: what `Consumer.run()` does
around its health-check loop. A huey task is a plain function run on a consumer thread, so
the bodies here are the sync twins of `kit.probe.BODIES`, counted under a lock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from huey import Huey as HueyApp
from huey import PostgresHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer
from kit.library import Unsupported
from kit.main import main
from kit.probe import PROBE, SLEEP_SECONDS, announce_serving
from kit.protocol import Spec

COUNTING = threading.Lock()


def _noop(seq: int) -> None:
    del seq
    with COUNTING:
        PROBE.hit()


def _sleep(seq: int) -> None:
    time.sleep(SLEEP_SECONDS)
    _noop(seq)


def _stamp(seq: int) -> None:
    with COUNTING:
        PROBE.stamp(seq)


BODIES: dict[str, Callable[[int], None]] = {"noop": _noop, "sleep": _sleep, "stamp": _stamp}


def filename(url: str) -> str:
    """The file of a `sqlite:////abs/path.db` URL (the harness gives absolute paths)."""
    path = urlsplit(url).path
    if not path.startswith("//"):
        raise ValueError(f"{url!r} does not name an absolute path")
    return path[1:]


STORAGES: dict[str, Callable[[str], HueyApp]] = {
    "sqlite": lambda url: SqliteHuey("bench", filename=filename(url)),
    "redis": lambda url: RedisHuey("bench", url=url),
    "postgres": lambda url: PostgresHuey("bench", dsn=url),
}


class Huey:
    name = "huey"
    in_process = False

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.huey: HueyApp | None = None
        self._tasks: dict[str, Any] = {}

    def unavailable(self) -> str | None:
        if self.spec.backend in STORAGES:
            return None
        return "huey's adapter runs SqliteHuey, RedisHuey and PostgresHuey only"

    def _open(self) -> HueyApp:
        if self.huey is None:
            self.huey = STORAGES[self.spec.backend](self.spec.url)
            self._tasks = {name: self.huey.task(name=name)(body) for name, body in BODIES.items()}
        return self.huey

    async def open(self) -> None:
        self._open()

    async def close(self) -> None:
        if self.huey is not None:
            self.huey.storage.close()

    async def sync_unavailable(self) -> str | None:
        return None  # calling a task is huey's one way to enqueue, and it blocks

    def open_sync(self) -> None:
        self._open()

    def enqueue_sync(self, task: str, seq: int) -> None:
        self._tasks[task](seq)  # returns once the task is stored (committed, or pushed)

    def close_sync(self) -> None:
        """Nothing of its own: the threads share the storage `open` made."""

    async def enqueue(self, task: str, seq: int, delay: float = 0.0) -> None:
        # huey's enqueue is a blocking call that returns once the task is committed
        if delay:
            self._tasks[task].schedule((seq,), delay=delay)
        else:
            self._tasks[task](seq)

    async def enqueue_batch(self, task: str, seqs: range) -> None:
        raise Unsupported("huey has no bulk enqueue (Task.map stores one task per commit)")

    async def unfinished(self) -> int:
        # huey deletes a task from its table when a worker takes it: running ones are gone
        return int(self._open().pending_count())

    async def serve(self, concurrency: int, stop: asyncio.Event) -> None:
        consumer: Consumer = self._open().create_consumer(workers=concurrency, worker_type="thread")
        consumer.start()  # from the main thread: it installs huey's signal handlers
        announce_serving()
        await stop.wait()
        await asyncio.to_thread(consumer.stop, graceful=True)


if __name__ == "__main__":
    main(Huey)
