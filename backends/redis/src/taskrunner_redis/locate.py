"""Finding the queue a job belongs to, when a caller knows only its id.

A job's keys live under its queue's hash tag, so reading or changing a job by id needs its
queue. The backend remembers the queues of the jobs it enqueued, claimed or looked up (a
job never changes queue), and asks Redis about the rest: one EXISTS per known queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from itertools import islice

from taskrunner_redis.clients import Client
from taskrunner_redis.keys import Keys

REMEMBERED = 10_000  # job ids whose queue is kept in memory at the most


class QueueLocator:
    """Job id to queue name, from memory first, then from Redis."""

    def __init__(self, keys: Keys, size: int = REMEMBERED) -> None:
        self._keys = keys
        self._size = size
        self._queues: dict[str, str] = {}

    def remember(self, pairs: Iterable[tuple[str, str]]) -> None:
        queues = self._queues
        queues.update(pairs)
        excess = len(queues) - self._size
        if excess > 0:  # the oldest entries go, found in one pass: a dict's iteration
            # starts by skipping the entries deleted before, so `next(iter(...))` per entry
            # cost a claim of 50 jobs 118 us, where this costs 13
            for job_id in list(islice(queues, excess)):
                del queues[job_id]

    async def locate(
        self,
        client: Client,
        ids: Sequence[str],
        known_queues: Callable[[], Awaitable[list[str]]],
    ) -> list[str | None]:
        """Each job's queue; None where none of the `known_queues` holds it."""
        found: list[str | None] = [self._queues.get(job_id) for job_id in ids]
        unknown = [i for i, queue in enumerate(found) if queue is None]
        if not unknown:
            return found
        queues = await known_queues()
        if not queues:
            return found
        async with client.pipeline(transaction=False) as pipe:
            for i in unknown:
                for queue in queues:
                    pipe.exists(self._keys.job(queue, ids[i]))
            hits = await pipe.execute()
        for n, i in enumerate(unknown):
            row = hits[n * len(queues) : (n + 1) * len(queues)]
            found[i] = next((q for q, hit in zip(queues, row, strict=True) if hit), None)
        self.remember((ids[i], q) for i in unknown if (q := found[i]) is not None)
        return found
