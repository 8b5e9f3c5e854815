"""The Redis side of `taskrunner.backend.inspection`: listing jobs, activity and live workers.

Listing walks per-queue indexes of job ids (UUIDv7, so lexicographic order is creation
order), newest first, merging queues lazily, and filters the records it reads.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import orjson

from taskrunner.backend import (
    CLOCK_MARGIN,
    AttemptOutcome,
    FlowCounts,
    JobFilter,
    JobRecord,
    JobState,
    QueueActivity,
    WorkerRecord,
    id_floor,
)
from taskrunner_redis.clients import Client
from taskrunner_redis.records import MICROS, micros
from taskrunner_redis.store import RedisStore

PAGE = 200  # ids read from one index per round trip
SCAN_LIMIT = 20_000  # ids looked at for one page of results at the most
# the index of each state (lua/common.lua: index_group)
_GROUPS = {JobState.WAITING: "blocked", JobState.QUEUED: "waiting",
           JobState.SCHEDULED: "waiting", JobState.RUNNING: "running",
           JobState.SUCCEEDED: "succeeded", JobState.FAILED: "failed",
           JobState.CANCELLED: "cancelled"}  # fmt: skip


class _Index:
    """One queue's index read newest first, a page at a time."""

    def __init__(self, client: Client, queue: str, key: str, high: str, low: str) -> None:
        self.client, self.queue, self.key, self.high, self.low = client, queue, key, high, low
        self.ids: deque[str] = deque()
        self.exhausted = False

    async def head(self) -> str | None:
        if not self.ids and not self.exhausted:
            page = await self.client.zrevrangebylex(self.key, self.high, self.low, 0, PAGE)
            self.ids.extend(i.decode() if isinstance(i, bytes) else i for i in page)
            self.exhausted = len(page) < PAGE
            if self.ids:
                self.high = "(" + self.ids[-1]
        return self.ids[0] if self.ids else None


class _LeaseIndex(_Index):
    """A queue's running jobs, from its lease set (small: at most what its workers run)."""

    async def head(self) -> str | None:
        if not self.exhausted:
            self.exhausted = True
            members = await self.client.zrange(self.key, 0, -1)
            names = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
            ids = sorted(names, reverse=True)
            self.ids.extend(i for i in ids if _within(i, self.high, self.low))
        return self.ids[0] if self.ids else None


def _within(job_id: str, high: str, low: str) -> bool:
    """Whether an id lies within ZRANGEBYLEX-style bounds ('+', '-', '(' or '[' + id)."""
    if high != "+" and not (job_id < high[1:] or (high[0] == "[" and job_id == high[1:])):
        return False
    return low == "-" or job_id > low[1:] or (low[0] == "[" and job_id == low[1:])


class RedisInspection:
    """What RedisBackend can tell about past and present work (see `Inspection`), read
    through the same `RedisStore`."""

    _store: RedisStore

    async def list_jobs(
        self, where: JobFilter, limit: int, before: str | None = None
    ) -> list[JobRecord]:
        client, _ = self._store.connected()
        with self._store.errors("listing jobs"):
            queues = await self._store.all_queues(None if where.queue is None else [where.queue])
            group = "all" if where.state is None else _GROUPS[where.state]
            high = "+" if before is None else "(" + before
            if where.until is not None:
                high = min(high, "(" + id_floor(where.until + CLOCK_MARGIN), key=lambda b: b[1:])
            low = "-" if where.since is None else "[" + id_floor(where.since - CLOCK_MARGIN)
            indexes = [
                _LeaseIndex(client, q, self._store.keys.queue(q, "leases"), high, low)
                if group == "running"
                else _Index(client, q, self._store.keys.queue(q, f"ix:{group}"), high, low)
                for q in queues
            ]
            found: list[JobRecord] = []
            looked = 0
            while len(found) < limit and looked < SCAN_LIMIT:
                jobs = await self._newest(indexes, PAGE)
                if not jobs:
                    break
                looked += len(jobs)
                for record in await self._store.read(jobs):
                    if record is not None and _matches(record, where):
                        found.append(record)
                        if len(found) == limit:
                            break
            return found

    @staticmethod
    async def _newest(indexes: list[_Index], count: int) -> list[tuple[str, str | None]]:
        """The next `count` ids across the indexes, newest first, with their queues."""
        jobs: list[tuple[str, str | None]] = []
        while len(jobs) < count:
            heads = [(head, index) for index in indexes if (head := await index.head())]
            if not heads:
                break
            _, index = max(heads, key=lambda pair: pair[0])
            jobs.append((index.ids.popleft(), index.queue))
        return jobs

    async def activity(
        self, queues: Sequence[str] | None = None, since: float | None = None
    ) -> dict[str, QueueActivity]:
        _, scripts = self._store.connected()
        first = None if since is None else math.floor(since)
        with self._store.errors("reading activity"):
            names = await self._store.all_queues(queues)
            argument = "" if first is None else first
            calls = [
                ("activity", self._store.keys.route(q), [self._store.prefix, q, argument])
                for q in names
            ]
            rows = await scripts.run_many(calls) if calls else []
        return {name: _activity(row, first) for name, row in zip(names, rows, strict=True)}

    async def flow_counts(self, queues: Sequence[str]) -> dict[str, FlowCounts]:
        _, scripts = self._store.connected()
        names = list(dict.fromkeys(queues))
        with self._store.errors("counting held jobs"):
            calls = [
                ("flow_counts", self._store.keys.route(q), [self._store.prefix, q]) for q in names
            ]
            rows = await scripts.run_many(calls) if calls else []
        return {
            name: FlowCounts(int(row[0]), int(row[1]))
            for name, row in zip(names, rows, strict=True)
        }

    async def register_worker(self, worker: WorkerRecord, ttl: float) -> None:
        _, scripts = self._store.connected()
        info = asdict(worker)
        del info["last_seen"]
        with self._store.errors("registering a worker"):
            await scripts.run(
                "register_worker",
                self._store.keys.workers_alive,
                [self._store.prefix, worker.id, orjson.dumps(info), micros(ttl)],
            )

    async def unregister_worker(self, worker_id: str) -> None:
        client, _ = self._store.connected()
        with self._store.errors("unregistering a worker"):
            await client.hdel(self._store.keys.workers_info, worker_id)
            await client.zrem(self._store.keys.workers_alive, worker_id)

    async def workers(self) -> list[WorkerRecord]:
        _, scripts = self._store.connected()
        with self._store.errors("listing workers"):
            rows = await scripts.run(
                "workers", self._store.keys.workers_alive, [self._store.prefix]
            )
        return [_worker(orjson.loads(row)) for row in rows if row is not None]


def _matches(record: JobRecord, where: JobFilter) -> bool:
    return (
        (where.state is None or record.state is where.state)
        and (where.task is None or record.task == where.task)
        and (where.since is None or record.enqueued_at >= where.since)
        and (where.until is None or record.enqueued_at < where.until)
    )


def _activity(row: list[Any], first: int | None) -> QueueActivity:
    recent, minutes, due, seconds = row
    entries = []
    for entry in recent:
        ended, runtime, outcome = entry.decode().split(":")
        entries.append((int(ended) / MICROS, int(runtime) / MICROS, AttemptOutcome(outcome)))
    per_second = _buckets(seconds)
    if first is not None:
        per_second = {second: c for second, c in per_second.items() if second >= first}
    oldest = int(due) / MICROS if due else None
    return QueueActivity(entries, _buckets(minutes), oldest, per_second)


def _buckets(flat: list[Any]) -> dict[int, dict[AttemptOutcome, int]]:
    """Counts by time and outcome from a flat HGETALL of 'time:outcome' fields."""
    buckets: dict[int, dict[AttemptOutcome, int]] = {}
    for field, count in zip(flat[::2], flat[1::2], strict=True):
        time, outcome = field.decode().split(":")
        buckets.setdefault(int(time), {})[AttemptOutcome(outcome)] = int(count)
    return buckets


def _worker(info: dict[str, Any]) -> WorkerRecord:
    return WorkerRecord(
        id=info["id"],
        hostname=info["hostname"],
        pid=int(info["pid"]),
        queues=tuple(info["queues"]),
        concurrency=int(info["concurrency"]),
        running=int(info["running"]),
        started_at=float(info["started_at"]),
        last_seen=int(info["last_seen"]) / MICROS,
    )
