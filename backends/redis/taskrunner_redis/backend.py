"""`RedisBackend`: the Backend protocol over Redis, one Lua script per state change.

Keys (P is the prefix; one queue's keys share the hash tag {queue}):
  P:job:<id>                hash: the job
  P:key:<key>               string: id of the job holding a dedup key
  P:queues                  set: every queue name seen
  P:{q}:prios               sorted set: priority levels with waiting jobs
  P:{q}:ready:<priority>    sorted set: waiting jobs (queued or scheduled) by due time
  P:{q}:leases              sorted set: running jobs by lease expiry
  P:{q}:done:<state>        sorted set: finished jobs by retention expiry (+inf: kept)
  P:{q}:wake                list: tokens that wake blocked workers
  P:waiting:<id>, channel P:finished: wake `wait_finished` callers
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from taskrunner.backend import Beat, LeaseStatus, NewJob, Outcome
from taskrunner.errors import BackendError, ConfigurationError
from taskrunner.job import JobRecord, JobState
from taskrunner.plugins import redact
from taskrunner_redis.finished import FinishedWaiters
from taskrunner_redis.inspection import RedisInspection
from taskrunner_redis.records import FIELDS, micros, parse_claimed, parse_record
from taskrunner_redis.scripts import Scripts
from taskrunner_redis.settings import parse_url

RECLAIM_BATCH = 500
POOL_WAIT = 30.0  # seconds a call waits for a free connection
SOCKET_TIMEOUT = 30.0  # seconds a reply may take before the connection counts as dead
LONGEST_BLOCK = 10.0  # seconds one blocking wait lasts at the most
PURGE_BATCH = 1000
_STATE_ORDER = (
    JobState.QUEUED,
    JobState.SCHEDULED,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.CANCELLED,
)


class RedisBackend(RedisInspection):
    """Jobs in one Redis (or a Redis-compatible server) shared by many worker processes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.settings = parse_url(url)
        self.prefix = self.settings.prefix
        self._client: Redis | None = None
        self._scripts: Scripts | None = None
        self._waiters: FinishedWaiters | None = None

    def __repr__(self) -> str:
        return f"RedisBackend({redact(self.url)!r}, prefix={self.prefix!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        # a connection the server closed (a restart, a failover) is replaced and the command
        # sent again: every script is safe to repeat (enqueue skips ids it already stored,
        # outcomes are fenced, claims a lost reply made expire like a dead worker's)
        # callers beyond the pool's size (100 unless the URL says max_connections=N) wait for
        # a free connection instead of failing, as a busy web app enqueuing would
        pool = BlockingConnectionPool.from_url(
            self.settings.url,
            timeout=POOL_WAIT,
            # a blocking wait (BLPOP) lasts up to LONGEST_BLOCK: reads must outlast it (the
            # URL's own socket_timeout=..., if any, wins)
            socket_timeout=SOCKET_TIMEOUT,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        client = Redis(connection_pool=pool)
        with self._errors("connecting"):
            await client.ping()
        self._client, self._scripts = client, Scripts(client)

    async def close(self) -> None:
        if self._waiters is not None:
            await self._waiters.close()
            self._waiters = None
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _errors(self, doing: str) -> _Translated:
        return _Translated(self.url, doing)

    def _connected(self) -> tuple[Redis, Scripts]:
        if self._client is None or self._scripts is None:
            raise BackendError("the Redis backend is not connected: call connect() first")
        return self._client, self._scripts

    def _queue_key(self, queue: str, suffix: str) -> str:
        return f"{self.prefix}:{{{queue}}}:{suffix}"

    # -- the protocol ----------------------------------------------------------------------

    async def now(self) -> float:
        client, _ = self._connected()
        with self._errors("reading the clock"):
            seconds, micro = await client.time()
        return seconds + micro / 1_000_000

    async def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[str]:
        if connection is not None:
            raise ConfigurationError(
                "the Redis backend cannot enqueue inside a caller's transaction; "
                "connection= works with the Postgres backend"
            )
        _, scripts = self._connected()
        header = [
            [
                job.id,
                job.task,
                job.queue,
                str(job.priority),
                job.max_attempts,
                job.key or False,
                micros(job.delay),
                False if job.at is None else micros(job.at),
            ]
            for job in jobs
        ]
        with self._errors("enqueuing"):
            ids = await scripts.run(
                "enqueue", [self.prefix, orjson.dumps(header), *(job.payload for job in jobs)]
            )
        return [i.decode() for i in ids]

    async def claim(
        self, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        _, scripts = self._connected()
        lease_us = micros(lease)
        with self._errors("claiming jobs"):
            answer = await scripts.run("claim", [self.prefix, worker, lease_us, limit, *queues])
        now_us = int(answer[0])
        return [parse_claimed(row, now_us, lease_us, worker) for row in answer[1:]]

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        if not beats:
            return []
        _, scripts = self._connected()
        args: list[Any] = [self.prefix, micros(lease)]
        for beat in beats:
            args += [
                beat.job_id,
                beat.attempt,
                "0" if beat.progress is None else "1",
                beat.progress or b"",
            ]
        with self._errors("renewing leases"):
            statuses = await scripts.run("heartbeat", args)
        return [LeaseStatus(s.decode()) for s in statuses]

    async def finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        _, scripts = self._connected()
        header = [
            [
                o.job_id,
                o.attempt,
                o.kind.value,
                micros(o.delay),
                -1 if o.ttl is None else micros(o.ttl),
            ]
            for o in outcomes
        ]
        data = [o.result or o.error or b"" for o in outcomes]
        with self._errors("reporting outcomes"):
            applied = await scripts.run("finish", [self.prefix, orjson.dumps(header), *data])
        return [flag == 1 for flag in applied]

    async def get(self, ids: Sequence[str]) -> list[JobRecord | None]:
        if not ids:
            return []
        client, _ = self._connected()
        with self._errors("reading jobs"):
            async with client.pipeline(transaction=False) as pipe:
                pipe.time()
                for job_id in ids:
                    pipe.hmget(f"{self.prefix}:job:{job_id}", FIELDS)
                answers = await pipe.execute()
        seconds, micro = answers[0]
        now_us = seconds * 1_000_000 + micro
        return [
            parse_record(job_id, values, now_us)
            for job_id, values in zip(ids, answers[1:], strict=True)
        ]

    async def cancel(self, ids: Sequence[str], ttl: float | None) -> list[JobState | None]:
        _, scripts = self._connected()
        with self._errors("cancelling jobs"):
            states = await scripts.run(
                "cancel", [self.prefix, -1 if ttl is None else micros(ttl), *ids]
            )
        return [JobState(s.decode()) if s else None for s in states]

    async def retry(self, ids: Sequence[str]) -> list[bool]:
        _, scripts = self._connected()
        with self._errors("retrying jobs"):
            done = await scripts.run("retry", [self.prefix, *ids])
        return [flag == 1 for flag in done]

    async def reclaim(self) -> list[str]:
        _, scripts = self._connected()
        with self._errors("reclaiming expired leases"):
            ids = await scripts.run("reclaim", [self.prefix, RECLAIM_BATCH])
        return [i.decode() for i in ids]

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        client, scripts = self._connected()
        with self._errors("waiting for jobs"):
            until_due = await scripts.run("next_due", [self.prefix, *queues])
            if until_due == 0:
                return
            if until_due > 0:
                timeout = min(timeout, until_due / 1_000_000)
            keys = [self._queue_key(queue, "wake") for queue in queues]
            await client.blpop(keys, timeout=min(max(timeout, 0.001), LONGEST_BLOCK))

    async def wait_finished(self, job_id: str, timeout: float) -> JobRecord | None:
        client, _ = self._connected()
        if self._waiters is None:
            self._waiters = FinishedWaiters(client, f"{self.prefix}:finished")
        waiters = self._waiters
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with self._errors("waiting for a job to finish"):
            await waiters.start()
            event = waiters.add(job_id)
            try:
                await client.set(
                    f"{self.prefix}:waiting:{job_id}", b"1", px=round((timeout + 5) * 1000)
                )
                while True:
                    event.clear()
                    (record,) = await self.get([job_id])
                    if record is None or record.state.finished:
                        return record if record is not None and record.state.finished else None
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return None
                    try:
                        await asyncio.wait_for(event.wait(), remaining)
                    except TimeoutError:
                        return None
            finally:
                waiters.remove(job_id, event)

    async def stats(self, queues: Sequence[str] | None = None) -> dict[str, dict[JobState, int]]:
        _, scripts = self._connected()
        with self._errors("reading stats"):
            rows = await scripts.run("stats", [self.prefix, *(queues or ())])
        return {
            row[0].decode(): dict(zip(_STATE_ORDER, map(int, row[1:]), strict=True)) for row in rows
        }

    async def purge(
        self,
        states: Sequence[JobState],
        finished_before: float | None = None,
        queue: str | None = None,
    ) -> int:
        client, scripts = self._connected()
        before = "" if finished_before is None else micros(finished_before)
        deleted = 0
        with self._errors("purging jobs"):
            if queue is not None:
                queues = [queue]
            else:
                members = await client.smembers(f"{self.prefix}:queues")
                queues = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
            for name in queues:
                for state in states:
                    offset = 0
                    while offset >= 0:
                        count, offset = await scripts.run(
                            "purge", [self.prefix, before, PURGE_BATCH, name, state.value, offset]
                        )
                        deleted += count
        return deleted


class _Translated:
    """Turns a lost connection into a BackendError that names the server (never its password)."""

    __slots__ = ("doing", "url")

    def __init__(self, url: str, doing: str) -> None:
        self.url, self.doing = url, doing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
            raise BackendError(
                f"Redis at {redact(self.url)} failed while {self.doing}: {exc}"
            ) from exc
