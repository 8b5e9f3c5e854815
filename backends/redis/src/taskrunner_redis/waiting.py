"""An idle worker's wait on Redis: `wait` (blocking on the queues' wake lists until a job
may be due) and `wait_claiming` (the same, with the claim sent behind the pop, see
wake_claims.py)."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import RedisCluster
from redis.exceptions import ResponseError

from taskrunner.backend import JobRecord
from taskrunner_redis.listen import first_wake
from taskrunner_redis.moving import declared
from taskrunner_redis.records import micros, parse_claimed
from taskrunner_redis.scripts import is_missing
from taskrunner_redis.store import RedisStore
from taskrunner_redis.wake_claims import WAKE_CLAIM_MOST, WINDOW_SHARE, WakeClaims

LONGEST_BLOCK = 10.0  # seconds one blocking wait lasts at the most


class RedisWaiting:
    """The waits of idle workers, on the same `RedisStore` as the backend."""

    _store: RedisStore
    _wake_claims: WakeClaims | None = None

    async def _next_due(self, queues: Sequence[str]) -> tuple[int, list[int]]:
        """The Redis clock (us), and per queue the microseconds until a job is due there
        (only the queues that hold one)."""
        _, scripts = self._store.connected()
        keys = self._store.keys
        calls = [("next_due", keys.route(q), [keys.prefix, q]) for q in queues]
        answers = await scripts.run_many(calls)
        return int(answers[0][0]), [int(w) for _, w in answers if w >= 0]

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        client, _ = self._store.connected()
        with self._store.errors("waiting for jobs"):
            _, waits = await self._next_due(queues)
            if waits and min(waits) == 0:
                return
            timeout = _block_for(timeout, waits)
            keys = [self._store.keys.queue(queue, "wake") for queue in queues]
            if len(keys) == 1 or not isinstance(client, RedisCluster):
                await client.blpop(keys, timeout=timeout)  # one server: one pop on every list
            else:
                await first_wake(client, keys, timeout)

    def _wakes(self) -> WakeClaims:
        client, _ = self._store.connected()
        if self._wake_claims is None:
            self._wake_claims = WakeClaims(client)
        return self._wake_claims

    def claims_on_wake(self, queues: Sequence[str]) -> bool:
        """One queue, on one server whose pool lends connections (wake_claims.py)."""
        return len(queues) == 1 and self._store.client is not None and self._wakes().able

    async def wait_claiming(
        self, queues: Sequence[str], timeout: float, limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        """As `wait`, and claim (as `claim` would, up to `WAKE_CLAIM_MOST` jobs) the instant
        the pop returns; the jobs claimed so, [] if none (the worker then claims as after
        `wait`). `call_off(worker)` ends it soon (see wake_claims.py)."""
        _, scripts = self._store.connected()
        wakes = self._wakes()
        if wakes.called_off(worker):
            return []
        (queue,), keys, lease_us = queues, self._store.keys, micros(lease)
        with self._store.errors("waiting for jobs"):
            await self._store.register(queues)
            now, waits = await self._next_due(queues)
            if waits and min(waits) == 0:
                return []
            window = lease * WINDOW_SHARE
            claim = (
                *("FCALL", scripts.name_of("claim"), *declared(keys.route(queue))),
                *(keys.prefix, queue, worker, lease_us, min(limit, WAKE_CLAIM_MOST)),
                now + micros(window),  # the deadline (claim.lua)
            )
            wake = keys.queue(queue, "wake")
            block = _block_for(min(timeout, window * 0.8), waits)
            try:
                answer = await wakes.pop_then_claim(worker, wake, block, claim)
            except ResponseError as exc:
                if not is_missing(exc):
                    raise
                await scripts.load()  # Redis lost the library (FUNCTION FLUSH): claim anew
                return []
        if wakes.called_off(worker):
            await wakes.retire(worker)
        if answer is None:  # not sent: called off, or not `able` (the worker claims anew)
            return []
        now_us, rows = int(answer[0]), answer[1:]
        records = [parse_claimed(row, now_us, lease_us, worker, queue) for row in rows]
        self._store.locator.remember([(r.id, queue) for r in records])
        return records

    def call_off(self, worker: str) -> None:
        """End `worker`'s `wait_claiming` soon, and any it would start from now on: a
        worker that stops calls it."""
        if self._store.client is not None:
            self._wakes().call_off(worker)

    async def _close_waits(self) -> None:
        if self._wake_claims is not None:
            wakes, self._wake_claims = self._wake_claims, None
            await wakes.close()


def _block_for(timeout: float, waits: Sequence[int]) -> float:
    """How long a pop blocks: `timeout`, less if a job falls due sooner (`waits`, in us)."""
    if waits:
        timeout = min(timeout, min(waits) / 1_000_000)
    return min(max(timeout, 0.001), LONGEST_BLOCK)
