"""The connection both `RedisBackend` and its inspection work through: the client and its
scripts, one script run per queue in one round trip, finding a job's queue, the list of
queues, and reading records."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import RedisCluster

from taskrunner.backend import JobRecord
from taskrunner.errors import BackendError, BatchNotOpen
from taskrunner_redis.clients import Client
from taskrunner_redis.errors import Translated
from taskrunner_redis.keys import Keys
from taskrunner_redis.locate import QueueLocator
from taskrunner_redis.records import FIELDS, parse_record
from taskrunner_redis.replicas import Replicas
from taskrunner_redis.scripts import Scripts


@dataclass(slots=True)
class Aftermath:
    """What script runs that ended jobs leave to their caller (with_dirty, batch.lua): the
    batches to settle, and the ended jobs others wait on, whose dependents to judge."""

    batches: list[str] = field(default_factory=list)
    ended: list[tuple[str, str]] = field(default_factory=list)  # (queue, job id)

    def add(self, queue: str, left: Sequence[Sequence[bytes]]) -> None:
        """Add what one run on `queue` left: its answer's last element."""
        batches, ended = left
        self.batches += [b.decode() for b in batches]
        self.ended += [(queue, i.decode()) for i in ended]


class RedisStore:
    """One prefix's keys on one Redis: a client once connected, and what this process knows
    of the queues (those it listed, and the queues of jobs it met lately)."""

    def __init__(self, url: str, prefix: str, replicas: Replicas | None = None) -> None:
        self.url = url
        self.prefix = prefix
        self.replicas = replicas
        self.keys = Keys(prefix)
        self.client: Client | None = None
        self.scripts: Scripts | None = None
        self.locator = QueueLocator(self.keys)
        # the queues this process enqueued to or takes jobs from: listed again in P:queues by
        # every reclaim and by reads that find one missing (Redis may have lost the set)
        self.registered: set[str] = set()
        # the task specs this process published (registry.py), and the queues whose slots
        # hold a copy of them
        self.published: dict[str, bytes] = {}
        self.specs_copied_to: set[str] = set()

    def errors(self, doing: str) -> Translated:
        """A context that tells Redis's errors while `doing` as BackendErrors."""
        return Translated(self.url, doing)

    def connected(self) -> tuple[Client, Scripts]:
        """The client and its scripts; BackendError before `connect()`."""
        if self.client is None or self.scripts is None:
            raise BackendError("the Redis backend is not connected: call connect() first")
        return self.client, self.scripts

    async def per_queue(
        self,
        script: str,
        queues: Sequence[str | None],
        arguments: Callable[[list[int]], list[Any]],
        missing: Any,
    ) -> list[Any]:
        """Run `script` once per queue on the items of that queue (their indexes go to
        `arguments`), in one round trip; answers per item, `missing` where the queue is None."""
        out = [missing] * len(queues)
        for _, items, answer in await self.runs_per_queue(script, queues, arguments):
            for i, value in zip(items, answer, strict=True):
                out[i] = value
        return out

    async def runs_per_queue(
        self,
        script: str,
        queues: Sequence[str | None],
        arguments: Callable[[list[int]], list[Any]],
        replicas: Replicas | None = None,
        lane: bool = False,
    ) -> list[tuple[str, list[int], Any]]:
        """Run `script` once per queue as `per_queue` does; each queue's name, the indexes
        of its items and the script's whole answer (`replicas`, `lane`: see
        `Scripts.run_many`)."""
        _, scripts = self.connected()
        groups: dict[str, list[int]] = {}
        first = queues[0] if queues else None
        if first is not None and queues.count(first) == len(queues):  # one queue: no loop
            groups[first] = list(range(len(queues)))
        for i, queue in enumerate(queues if not groups else ()):
            if queue is not None:
                groups.setdefault(queue, []).append(i)
        calls = [
            (script, self.keys.route(queue), [self.prefix, queue, *arguments(items)])
            for queue, items in groups.items()
        ]
        answers = await scripts.run_many(calls, replicas, lane=lane) if calls else []
        return list(zip(groups, groups.values(), answers, strict=True))

    async def per_queue_settling(
        self,
        script: str,
        queues: Sequence[str | None],
        arguments: Callable[[list[int]], list[Any]],
        missing: Any,
    ) -> tuple[list[Any], Aftermath]:
        """As `per_queue`, for a script that ends jobs: also what its runs left to do, the
        batches to settle and the dependents to judge (see `Aftermath`)."""
        out, left = [missing] * len(queues), Aftermath()
        for queue, items, answer in await self.runs_per_queue(script, queues, arguments):
            if len(answer) > len(items):
                left.add(queue, answer.pop())
            for i, value in zip(items, answer, strict=True):
                out[i] = value
        return out, left

    async def enqueue(
        self, queues: Sequence[str], arguments: Callable[[list[int]], list[Any]]
    ) -> list[tuple[str, list[int], Any]]:
        """Run enqueue.lua once per queue (as `runs_per_queue`) and list the queues it found
        unlisted; `BatchNotOpen` if a run refused a member (its batch closed meanwhile).
        With wait_replicas in the URL, it returns once that many replicas have the jobs."""
        runs = await self.runs_per_queue("enqueue", queues, arguments, self.replicas, lane=True)
        refused = [answer[1].decode() for _, _, answer in runs if answer[0] == -1]
        if refused:
            raise BatchNotOpen(f"batch {refused[0]} is closed: no member can join it")
        # each answer starts with whether the queue is listed in P:queues
        unlisted = [queue for queue, _, (listed, *_) in runs if not listed]
        if unlisted:
            await self.list_queues(unlisted)
        return runs

    async def enqueue_alone(
        self, queue: str, arguments: list[Any], function: str = "enqueue"
    ) -> Any:
        """`enqueue` of one job with no batch (`arguments`: its header and payload): the
        same call with less Python on the way; or, `function` "enqueue_plain", the call of
        enqueue_plain.lua (`arguments`: those after the queue). enqueue.lua's answer. With
        wait_replicas, only "enqueue"."""
        if self.replicas is not None:
            ((_, _, answer),) = await self.enqueue([queue], lambda _: arguments)
            return answer
        _, scripts = self.connected()
        route = self.keys.route(queue)
        answer = await scripts.run(function, route, [self.prefix, queue, *arguments], lane=True)
        if not answer[0]:
            await self.list_queues([queue])
        return answer

    async def flag_per_job(self, script: str, ids: Sequence[str]) -> list[bool]:
        """Run `script` (ARGV: prefix, queue, id...; a 1 or 0 per id) on the jobs' queues;
        per id, whether it answered 1 (False for an id no queue holds)."""
        queues = await self.locate(ids)
        done = await self.per_queue(script, queues, lambda items: [ids[i] for i in items], 0)
        return [flag == 1 for flag in done]

    async def locate(self, ids: Sequence[str]) -> list[str | None]:
        """The queue of each job (None: no queue holds it)."""
        client, _ = self.connected()
        return await self.locator.locate(client, ids, lambda: self.all_queues(None))

    async def register(self, queues: Iterable[str]) -> None:
        """List the queues in P:queues (reclaim, stats and lookups go through it), once per
        process; reclaim lists them again should Redis lose the set."""
        new = set(queues) - self.registered
        if new:
            await self.list_queues(new)
            self.registered |= new
        if self.published and (uncopied := set(queues) - self.specs_copied_to):
            await self.copy_specs(uncopied)

    async def copy_specs(self, queues: Iterable[str]) -> None:
        """Copy the specs this process published into the slots of `queues` (P:{q}:tasks),
        where the taskrunner_enqueue function reads them (see registry.py)."""
        client, _ = self.connected()
        names = sorted(set(queues))
        async with client.pipeline(transaction=False) as pipe:
            for queue in names:
                pipe.hset(self.keys.queue(queue, "tasks"), mapping=self.published)  # type: ignore[arg-type]
            await pipe.execute()
        self.specs_copied_to.update(names)

    async def list_queues(self, queues: Iterable[str]) -> None:
        """Add the queues to P:queues, then mark each as listed (the enqueue script reads the
        mark: a queue whose mark is gone, as after Redis lost its data, is listed again)."""
        client, _ = self.connected()
        names = sorted(set(queues))
        async with client.pipeline(transaction=False) as pipe:
            pipe.sadd(self.keys.queues, *names)
            for queue in names:
                pipe.set(self.keys.queue(queue, "listed"), 1)
            await pipe.execute()

    async def read(self, jobs: Sequence[tuple[str, str | None]]) -> list[JobRecord | None]:
        """The records of jobs whose queues are known (None: no queue holds the job)."""

        def reads(pipe: Any) -> None:
            for job_id, queue in jobs:
                if queue is not None:
                    pipe.hmget(self.keys.job(queue, job_id), FIELDS)

        now_us, found = await self.read_at_once(reads)
        answers = iter(found)
        return [
            None if queue is None else parse_record(job_id, next(answers), now_us)
            for job_id, queue in jobs
        ]

    async def read_at_once(self, reads: Callable[[Any], None]) -> tuple[int, list[Any]]:
        """The Redis clock (us) and the answers of the commands `reads` puts in a pipeline,
        in one round trip. A cluster refuses TIME in a pipeline (it has no key, so no node):
        there it goes beside the pipeline, to any node (see docs: one clock per primary)."""
        client, _ = self.connected()
        async with client.pipeline(transaction=False) as pipe:
            if isinstance(client, RedisCluster):
                reads(pipe)
                answers, (seconds, micro) = await asyncio.gather(pipe.execute(), client.time())
            else:
                pipe.time()
                reads(pipe)
                (seconds, micro), *answers = await pipe.execute()
        return seconds * 1_000_000 + micro, list(answers)

    async def all_queues(self, queues: Sequence[str] | None) -> list[str]:
        """The queues asked for, or every known queue (those of this process listed again
        if Redis lost them)."""
        if queues:
            return list(queues)
        client, _ = self.connected()
        known = set(queue_names(await client.smembers(self.keys.queues)))
        if lost := self.registered - known:
            await client.sadd(self.keys.queues, *lost)
        return sorted(known | lost)


def queue_names(members: Iterable[bytes | str]) -> list[str]:
    """Members of P:queues (or any list of names Redis answers) as text."""
    return [as_text(m) for m in members]


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
