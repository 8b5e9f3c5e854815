"""RQ (Redis Queue) on Redis, for the blocking-enqueue workload only (see `kit.sync`): RQ is
sync by nature, its `Queue.enqueue` a blocking call that returns once the job is stored, as
a thread of a Flask or Django app makes it. Library defaults throughout: the pickle
serializer, results kept 500 s, no retries; one `Queue` on a redis-py client built with
`Redis.from_url` (its connection pool is thread-safe), shared by the threads.

Jobs name their function by its dotted path (`rq_adapter.noop`, which RQ's worker would
import), as RQ allows, since a script's own functions live in `__main__`, which RQ refuses.
RQ's worker forks a process per job by default; it is not run here: `serve` is n/a.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from kit.library import Unsupported
from kit.main import main
from kit.protocol import Spec
from redis import Redis
from rq import Queue
from rq.registry import StartedJobRegistry


def noop(seq: int) -> None:
    """The body RQ's worker would run for `noop` (never run here)."""
    del seq


class Rq:
    name = "rq"
    in_process = False

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._queue: Queue | None = None

    def unavailable(self) -> str | None:
        return None if self.spec.backend == "redis" else "RQ runs on Redis only"

    @property
    def queue(self) -> Queue:
        if self._queue is None:
            self._queue = Queue("bench", connection=Redis.from_url(self.spec.url))
        return self._queue

    async def open(self) -> None:
        self.queue.connection.ping()

    async def close(self) -> None:
        self.queue.connection.close()

    async def sync_unavailable(self) -> str | None:
        return None

    def open_sync(self) -> None:
        """Nothing of its own: the threads share the queue `open` made."""

    def enqueue_sync(self, task: str, seq: int) -> None:
        self.queue.enqueue(f"rq_adapter.{task}", seq)

    def close_sync(self) -> None:
        """Nothing of its own: `close` releases the queue's client."""

    async def enqueue(self, task: str, seq: int, delay: float = 0.0) -> None:
        # RQ's enqueue is a blocking call that returns once the job is stored
        if delay:
            self.queue.enqueue_in(timedelta(seconds=delay), f"rq_adapter.{task}", seq)
        else:
            self.enqueue_sync(task, seq)

    async def enqueue_batch(self, task: str, seqs: range) -> None:
        prepared = [Queue.prepare_data(f"rq_adapter.{task}", (seq,)) for seq in seqs]
        self.queue.enqueue_many(prepared)

    async def unfinished(self) -> int:
        return self.queue.count + StartedJobRegistry(queue=self.queue).count

    async def serve(self, concurrency: int, stop: asyncio.Event) -> None:
        raise Unsupported("the RQ adapter covers the blocking enqueue only (no worker)")


if __name__ == "__main__":
    main(Rq)
