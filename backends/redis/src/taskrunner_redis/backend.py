"""`RedisBackend`: the Backend protocol over Redis, one Lua script per state change.

Each script works on one queue's keys, which share a hash tag (see keys.py), so the layout
fits Redis Cluster: calls about several queues become one script run per queue, sent in one
round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson

from taskrunner.backend import (
    Beat,
    JobRecord,
    JobState,
    LeaseStatus,
    NewJob,
    Outcome,
    redact,
)
from taskrunner.errors import ConfigurationError
from taskrunner_redis.batch_reads import BatchReader
from taskrunner_redis.batches import RedisBatches
from taskrunner_redis.clients import Client, Subscriber, close_client, open_client, subscriber
from taskrunner_redis.deletion import RedisDeletion
from taskrunner_redis.dependencies import RedisDependencies
from taskrunner_redis.eviction import check_eviction_policy
from taskrunner_redis.inspection import RedisInspection
from taskrunner_redis.judge import Judge
from taskrunner_redis.listen import CancelChannel, FinishedWaiters, wait_until
from taskrunner_redis.pausing import RedisPausing
from taskrunner_redis.records import (
    enqueue_header,
    finish_arguments,
    is_plain,
    micros,
    parse_claimed,
    plain_arguments,
    state_counts,
)
from taskrunner_redis.registry import RedisRegistry
from taskrunner_redis.replicas import replicas_of
from taskrunner_redis.scripts import Scripts
from taskrunner_redis.settings import parse_url
from taskrunner_redis.settle import SETTLE_GRACE, Settler
from taskrunner_redis.store import Aftermath, RedisStore, queue_names
from taskrunner_redis.waiting import RedisWaiting

RECLAIM_BATCH = 500
CLAIM_ROUNDS = 3  # rounds of one claim over several queues, at the most
PURGE_BATCH = 1000


class RedisBackend(
    RedisInspection,
    RedisPausing,
    RedisBatches,
    RedisDependencies,
    RedisRegistry,
    RedisDeletion,
    RedisWaiting,
):
    """Jobs in one Redis (or a Redis-compatible server) shared by many worker processes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.settings = parse_url(url)
        self.prefix = self.settings.prefix
        self._store = RedisStore(url, self.prefix, replicas_of(self.settings))
        self.keys = self._store.keys
        self._waiters: FinishedWaiters | None = None
        self._cancels = CancelChannel(self.keys.cancels)
        self._batch_reader = BatchReader(self._store)
        self._settler = Settler(self._store, self._batch_reader)
        self._judge = Judge(self._store)
        self._subscriber: Subscriber | None = None

    @property
    def _client(self) -> Client | None:
        """The connected client (None before `connect()`)."""
        return self._store.client

    def _subscription(self) -> Subscriber:
        """How to open a pub/sub connection (BackendError before `connect()`)."""
        self._store.connected()
        assert self._subscriber is not None  # set with the client
        return self._subscriber

    def __repr__(self) -> str:
        return f"RedisBackend({redact(self.url)!r}, prefix={self.prefix!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        # a connection the server closed (a restart, a failover) is replaced and the command
        # sent again: every script is safe to repeat (enqueue skips ids it already stored,
        # outcomes are fenced, claims a lost reply made expire like a dead worker's)
        client = open_client(self.settings)
        try:
            with self._store.errors("connecting"):
                await client.ping()
                await check_eviction_policy(client, redact(self.url), self.settings.allow_eviction)
        except BaseException:
            await close_client(client)
            raise
        self._store.client, self._store.scripts = client, Scripts(client)
        self._subscriber = subscriber(client, self.settings)

    async def close(self) -> None:
        await self._cancels.close()
        await self._close_waits()
        if self._waiters is not None:
            await self._waiters.close()
            self._waiters = None
        if self._store.client is not None:
            client, self._store.client = self._store.client, None
            if self._store.scripts is not None:
                await self._store.scripts.close_lanes()
            await close_client(client)

    # -- the protocol ----------------------------------------------------------------------

    async def now(self) -> float:
        client, _ = self._store.connected()
        with self._store.errors("reading the clock"):
            seconds, micro = await client.time()
        return seconds + micro / 1_000_000

    async def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[str]:
        if connection is not None:
            raise ConfigurationError(
                "the Redis backend cannot enqueue inside a caller's transaction; "
                "connection= works with the Postgres backend"
            )
        if len(jobs) == 1 and not jobs[0].after and jobs[0].batch_id is None:
            return [await self._enqueue_alone(jobs[0])]

        def arguments(items: list[int]) -> list[Any]:
            header = [[*enqueue_header(jobs[i]), *waits.get(i, ())] for i in items]
            return [orjson.dumps(header), *(jobs[i].payload for i in items)]

        queues = [job.queue for job in jobs]
        ids = [""] * len(jobs)
        with self._store.errors("enqueuing"):
            waits = await self._wait_entries(jobs)  # jobs with after=: registered first
            if any(job.batch_id is not None for job in jobs):
                await self._join_batches(jobs)
            runs = await self._store.enqueue(queues, arguments)
        for _, items, (_, *answers) in runs:
            for i, job_id in zip(items, answers, strict=True):
                ids[i] = job_id.decode()
        self._store.registered.update(queues)
        self._store.locator.remember(zip(ids, queues, strict=True))
        return ids

    async def _enqueue_alone(self, job: NewJob) -> str:
        """Most web handlers' enqueue: one job, no dependencies, no batch."""
        with self._store.errors("enqueuing"):
            if is_plain(job) and self._store.replicas is None:
                arguments = plain_arguments(job)
                _, job_id = await self._store.enqueue_alone(job.queue, arguments, "enqueue_plain")
            else:
                arguments = [orjson.dumps([enqueue_header(job)]), job.payload]
                _, job_id = await self._store.enqueue_alone(job.queue, arguments)
        found: str = job_id.decode()
        self._store.registered.add(job.queue)
        self._store.locator.remember([(found, job.queue)])
        return found

    async def claim(
        self, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        with self._store.errors("claiming jobs"):
            await self._store.register(queues)  # a worker lists what it takes jobs from
            claimed, short = await self._claim_round(queues, limit, worker, lease)
            # a queue given a share of the best heads may answer fewer (jobs set aside by a
            # limit or a rate as it claimed): the shortfall goes to the next best heads
            for _ in range(CLAIM_ROUNDS - 1):
                if len(queues) == 1 or len(claimed) >= limit or not short:
                    break
                more, short = await self._claim_round(queues, limit - len(claimed), worker, lease)
                claimed += more
        if len(queues) > 1:
            claimed.sort(key=lambda r: (r.priority, r.run_at, r.id))
        self._store.locator.remember([(r.id, r.queue) for r in claimed])
        return claimed

    async def _claim_round(
        self, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> tuple[list[JobRecord], bool]:
        """Claim from each queue its share of the best `limit` due heads across `queues`;
        answers the jobs, and whether a queue answered fewer than its share."""
        _, scripts = self._store.connected()
        lease_us = micros(lease)
        shares = {queues[0]: limit} if len(queues) == 1 else await self._shares(queues, limit)
        calls = [
            ("claim", self.keys.route(q), [self.prefix, q, worker, lease_us, n])
            for q, n in shares.items()
        ]
        answers = await scripts.run_many(calls) if calls else []
        claimed: list[JobRecord] = []
        short = False
        for share, (now, *rows) in zip(shares.values(), answers, strict=True):
            short = short or len(rows) < share
            if rows:  # the clock and the queue once per answer, not per job
                now_us, queue = int(now), rows[0][2].decode()
                claimed += [parse_claimed(row, now_us, lease_us, worker, queue) for row in rows]
        return claimed, short

    async def _shares(self, queues: Sequence[str], limit: int) -> dict[str, int]:
        """How many jobs to claim from each queue: the best `limit` due jobs across them."""
        _, scripts = self._store.connected()
        calls = [("peek", self.keys.route(q), [self.prefix, q, limit]) for q in queues]
        heads = await scripts.run_many(calls)
        candidates = [
            (int(head[i]), int(head[i + 1]), head[i + 2], queue)
            for queue, head in zip(queues, heads, strict=True)
            for i in range(0, len(head), 3)
        ]
        shares: dict[str, int] = {}
        for *_, queue in sorted(candidates)[:limit]:
            shares[queue] = shares.get(queue, 0) + 1
        return shares

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        if not beats:
            return []

        def arguments(items: list[int]) -> list[Any]:
            args: list[Any] = [micros(lease)]
            for beat in (beats[i] for i in items):
                args += [
                    beat.job_id,
                    beat.attempt,
                    "0" if beat.progress is None else "1",
                    beat.progress or b"",
                ]
            return args

        with self._store.errors("renewing leases"):
            queues = await self._queues_of(beats)
            statuses = await self._store.per_queue("heartbeat", queues, arguments, b"lost")
        return [LeaseStatus(s.decode()) for s in statuses]

    async def _queues_of(self, items: Sequence[Beat] | Sequence[Outcome]) -> list[str | None]:
        """The queues of the jobs beats or outcomes are about, looking up those not given."""
        queues = [item.queue for item in items]
        unknown = [i for i, queue in enumerate(queues) if queue is None]
        if unknown:
            found = await self._store.locate([items[i].job_id for i in unknown])
            for i, queue in zip(unknown, found, strict=True):
                queues[i] = queue
        return queues

    async def finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []

        def arguments(items: list[int]) -> list[Any]:
            one_queue = len(items) == len(outcomes)
            return finish_arguments(outcomes if one_queue else [outcomes[i] for i in items])

        with self._store.errors("reporting outcomes"):
            queues = await self._queues_of(outcomes)
            applied, left = await self._store.per_queue_settling("finish", queues, arguments, 0)
        await self._follow_up(left, settle_point=True)
        return [flag == 1 for flag in applied]

    async def get(self, ids: Sequence[str]) -> list[JobRecord | None]:
        if not ids:
            return []
        with self._store.errors("reading jobs"):
            queues = await self._store.locate(ids)
            return await self._store.read(list(zip(ids, queues, strict=True)))

    async def cancel(self, ids: Sequence[str], ttl: float | None) -> list[JobState | None]:
        with self._store.errors("cancelling jobs"):
            queues = await self._store.locate(ids)
        return await self._cancel_on(ids, queues, ttl)

    async def _cancel_on(
        self, ids: Sequence[str], queues: Sequence[str | None], ttl: float | None
    ) -> list[JobState | None]:
        """Cancel jobs whose queues are known (see `cancel`)."""
        ttl_us = -1 if ttl is None else micros(ttl)
        with self._store.errors("cancelling jobs"):
            states, left = await self._store.per_queue_settling(
                "cancel", queues, lambda items: [ttl_us, *(ids[i] for i in items)], b""
            )
        await self._follow_up(left)
        asked = [job_id for job_id, state in zip(ids, states, strict=True) if state == b"running"]
        if asked:
            client, _ = self._store.connected()
            await self._cancels.publish(client, asked)
        return [JobState(s.decode()) if s else None for s in states]

    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        """Listen for cancel requests of running jobs (see `CancelSignals`), on one
        subscription per backend."""
        return self._cancels.listen(self._subscription())

    async def retry(self, ids: Sequence[str]) -> list[bool]:
        with self._store.errors("retrying jobs"):
            return await self._store.flag_per_job("retry", ids)

    async def reclaim(self) -> list[str]:
        client, scripts = self._store.connected()
        with self._store.errors("reclaiming expired leases"):
            async with client.pipeline(transaction=False) as pipe:
                if self._store.registered:  # again: Redis may have lost the set (a restart)
                    pipe.sadd(self.keys.queues, *self._store.registered)
                pipe.smembers(self.keys.queues)
                *_, members = await pipe.execute()
            grace_us = micros(SETTLE_GRACE)
            names = sorted(queue_names(members))
            calls = [
                ("reclaim", self.keys.route(q), [self.prefix, q, RECLAIM_BATCH, grace_us])
                for q in names
            ]
            answers = await scripts.run_many(calls) if calls else []
            # a run's answer ends with the batches and the ends left unsettled or unjudged on
            # its queue, if any
            left = Aftermath()
            for queue, answer in zip(names, answers, strict=True):
                if answer and isinstance(answer[-1], list):
                    left.add(queue, answer.pop())
            await self._settler.upkeep(left.batches)
            await self._judge.judge_all(left.ended)
            await self._republish_if_lost()
        return [i.decode() for answer in answers for i in answer]

    async def _finished(self) -> FinishedWaiters:
        """The subscription to the finished-jobs channel, started once per backend."""
        if self._waiters is None:
            self._waiters = FinishedWaiters(self._subscription(), self.keys.channel)
        await self._waiters.start()
        return self._waiters

    async def wait_finished(self, job_id: str, timeout: float) -> JobRecord | None:
        _, scripts = self._store.connected()
        with self._store.errors("waiting for a job to finish"):
            (queue,) = await self._store.locate([job_id])
            if queue is None:
                return None
            waiters = await self._finished()
            event = waiters.add(job_id)
            try:
                await scripts.run(
                    "watch",
                    self.keys.route(queue),
                    [self.prefix, queue, job_id, micros(timeout + 5)],
                )
                return await wait_until(event, timeout, lambda: self._finished_job(job_id, queue))
            finally:
                waiters.remove(job_id, event)

    async def _finished_job(self, job_id: str, queue: str) -> tuple[bool, JobRecord | None]:
        """(True, the record) once the job finished; (True, None) if it is gone."""
        (record,) = await self._store.read([(job_id, queue)])
        if record is None:
            return True, None
        return record.state.finished, record

    async def stats(self, queues: Sequence[str] | None = None) -> dict[str, dict[JobState, int]]:
        _, scripts = self._store.connected()
        with self._store.errors("reading stats"):
            names = await self._store.all_queues(queues)
            calls = [("stats", self.keys.route(q), [self.prefix, q]) for q in names]
            rows = await scripts.run_many(calls) if calls else []
        return {name: state_counts(row) for name, row in zip(names, rows, strict=True)}

    async def purge(
        self,
        states: Sequence[JobState],
        finished_before: float | None = None,
        queue: str | None = None,
    ) -> int:
        _, scripts = self._store.connected()
        before = "" if finished_before is None else micros(finished_before)
        deleted = 0
        with self._store.errors("purging jobs"):
            for name in await self._store.all_queues(None if queue is None else [queue]):
                for state in states:
                    offset = 0
                    while offset >= 0:
                        count, offset = await scripts.run(
                            "purge",
                            self.keys.route(name),
                            [self.prefix, name, state.value, before, PURGE_BATCH, offset],
                        )
                        deleted += count
        return deleted
