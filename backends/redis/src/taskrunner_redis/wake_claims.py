"""Claiming on the wake: an idle worker's pop and its next claim, sent in one write.

An idle worker blocks on its queue's wake list (BLPOP), then claims: two round trips after
the enqueue. Here the claim is written on the blocking connection right behind the pop, so
Redis runs it the instant the pop returns (a connection's commands run in order), and both
answers come back together: one round trip less for a job that wakes an idle worker.

The claim then runs for a worker that may no longer be running (stopped with SIGSTOP, its
machine frozen or cut off: a killed process's connection closes, and its queued claim with
it). So a claim queued so is bounded three ways:

- it takes at most one job (`WAKE_CLAIM_MOST`);
- it takes nothing once its deadline, on the Redis clock, has passed (claim.lua): the
  deadline is `lease * WINDOW_SHARE` after the clock that `next_due` read just before the
  pop was sent, and the pop's own timeout ends it well before that. Such a late claim hands
  the wake on (pushes a token) if a job is due;
- a worker that stops calls its wait off (`call_off`): `CLIENT UNBLOCK` from another
  connection ends the pop at once, the queued claim runs, and its answer is read and
  handed to the worker, which runs what it took within its grace, as it runs any job it
  claimed before the stop. A wait called off before it was sent is not sent.

A worker's lease is renewed every `lease / 3` seconds; the job of a worker frozen while it
was idle can be rescued only `lease` after its last renewal, later than the worker's queued
claim can take anything, so such a worker never claims the job rescued from it. What it can
take is one job enqueued within the window after it froze: that job waits for its lease to
run out, as one claimed just before a freeze does, and then runs again with one attempt
used. The worker's wait ends every `lease * WINDOW_SHARE * 0.8` seconds at the longest
(no change with the default 30 s lease and 5 s poll).

Each worker waiting this way holds one connection of the pool (a single-connection client,
as the enqueue lane does). Only one server's blocking pool lends them, and only a wait on
one queue claims so: the backend falls back to `wait` then `claim` otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from taskrunner_redis.clients import Client
from taskrunner_redis.lane import SMALLEST_POOL, LaneClient, pack, pool_size, short_way

log = logging.getLogger("taskrunner.redis")

WAKE_CLAIM_MOST = 1  # jobs a claim queued behind a pop takes at the most
WINDOW_SHARE = 0.25  # of the lease: how long after its wait was sent a queued claim may take
UNBLOCK_AGAIN = 0.01  # seconds between CLIENT UNBLOCKs while a called-off pop goes on


class WakeLane:
    """One worker's blocking connection, its id on the server, and whether a pop is out."""

    def __init__(self, client: Redis) -> None:
        self.own = LaneClient(connection_pool=client.connection_pool, single_connection_client=True)
        self.server_id: int | None = None
        self.stream: object = None  # the writer server_id was read on
        self.in_flight = False
        self.unblocking: asyncio.Task[None] | None = None


class WakeClaims:
    """The wake lanes of one backend's workers, by worker id."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._lanes: dict[str, WakeLane] = {}
        self._called_off: set[str] = set()
        self.able = (
            isinstance(client, Redis)
            and pool_size(client) >= SMALLEST_POOL
            and not client.connection_pool.connection_kwargs.get("health_check_interval")
        )

    def called_off(self, worker: str) -> bool:
        return worker in self._called_off

    async def pop_then_claim(
        self, worker: str, wake_key: str, timeout: float, claim: tuple[Any, ...]
    ) -> Any | None:
        """BLPOP `wake_key` for up to `timeout` seconds, with the FCALL `claim` right
        behind it; the claim's answer (None: not sent, as the wait was called off, or this
        server or connection cannot do it: `able` then turns False for good)."""
        if not isinstance(self._client, Redis):
            return None
        lane = self._lanes.get(worker)
        if lane is None:
            lane = self._lanes[worker] = WakeLane(self._client)
        conn = short_way(lane.own)
        if conn is None or conn._writer is not lane.stream:
            try:
                lane.server_id = await lane.own.execute_command("CLIENT", "ID")  # type: ignore[no-untyped-call]
            except ResponseError:  # CLIENT refused (a managed Redis may): no way to call off
                conn = None
            else:
                conn = short_way(lane.own)  # None: not a TCP connection (a Unix socket)
            lane.stream = getattr(conn, "_writer", None)
            self.able = self.able and conn is not None
        if conn is None or worker in self._called_off:
            return None
        write = conn._writer.write  # type: ignore[union-attr]
        write(pack(conn, ("BLPOP", wake_key, f"{timeout:.3f}")) + pack(conn, claim))
        lane.in_flight = True
        try:
            try:
                await conn.read_response()
            except ResponseError:
                await conn.read_response()  # the claim's, to keep the connection in step
                raise
            return await conn.read_response()
        finally:
            lane.in_flight = False

    def call_off(self, worker: str) -> None:
        """End `worker`'s wait soon: a pop out now returns at once (its claim still runs
        and is answered); none is sent from now on."""
        self._called_off.add(worker)
        lane = self._lanes.get(worker)
        if lane is not None and lane.in_flight and lane.unblocking is None:
            lane.unblocking = asyncio.ensure_future(self._unblock(lane))

    async def retire(self, worker: str) -> None:
        """Give back the connection of a worker whose wait was called off."""
        lane = self._lanes.pop(worker, None)
        if lane is not None:
            await self._close(lane)

    async def _unblock(self, lane: WakeLane) -> None:
        """CLIENT UNBLOCK the lane's pop until it has returned (a pop Redis has not read
        yet is not blocked: it is unblocked once it is)."""
        server = lane.server_id or 0
        while lane.in_flight:
            try:
                await self._client.execute_command("CLIENT", "UNBLOCK", server, "TIMEOUT")
            except (RedisError, OSError) as exc:  # the pop ends by its timeout anyway
                log.debug("could not unblock a called-off wait: %s", exc)
            await asyncio.sleep(UNBLOCK_AGAIN)

    async def close(self) -> None:
        """Give the lanes' connections back (before the pool closes)."""
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            await self._close(lane)

    @staticmethod
    async def _close(lane: WakeLane) -> None:
        if lane.unblocking is not None:
            lane.unblocking.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await lane.unblocking
        await lane.own.aclose()
