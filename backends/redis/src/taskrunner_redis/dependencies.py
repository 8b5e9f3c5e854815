"""Dependencies in Redis (`taskrunner.backend.Dependencies`), fit for Redis Cluster.

Every script works on one slot, and a job D waiting on a job A may sit on another queue
(another slot) than A. So each side keeps its own keys (lua/deps.lua lists them): A's queue
the jobs waiting on A (`dependents:<A>`, with A's end once it ended) and the marks of ended
jobs not judged yet (`ddirty`); D's queue D itself in state `waiting` (no ready set holds
it), the dependencies it still waits on (`pending:<D>`) and ends judged before D was stored
(`early:<D>`). Python carries the news from one slot to the other:

- Enqueue: every dependency is located first (an unknown one raises `DependencyNotFound`
  before any write); then, per dependency queue, `dep_register` notes D in `dependents:<A>`
  unless A has ended (it answers A's end then) or is gone (`DependencyNotFound`; the
  registrations made at other dependencies are harmless ghosts: judging finds no waiting D).
  D's enqueue (enqueue.lua) takes those answers and its early ends, and stores D queued
  (all met), cancelled (one failed or was cancelled) or waiting on the rest.
- End: the script that ends A (common.lua: finish_job, for finish, cancel, a claim's failure
  and a judged cancel alike) notes its end in `dependents:<A>` and marks it in `ddirty`, in
  the same run, and answers it. The caller then judges (judge.py): reads A's dependents,
  runs `dep_judge` on each dependent queue (queue, cancel, or note an early end), then
  `dep_done` takes the judged dependents and the mark off. A cancel there ends a job that
  may have dependents in turn: those are judged next, in the same call.
- Only A's first end counts: a later one (after a retry by hand) before the judging is done
  changes nothing, and a new job cannot register at A until it is done (`busy`: the enqueue
  judges A first, then registers again).

Crashes only delay: each step is safe to repeat, and every worker's reclaim judges the
ddirty marks older than SETTLE_GRACE, so a crash between an end and its judging (or in the
middle of one) leaves the rest to upkeep. Deleting an ended job keeps its dependents while
its mark stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from taskrunner.backend import NewJob, faults
from taskrunner.errors import BackendError, ConfigurationError, DependencyNotFound
from taskrunner_redis.judge import Judge, decoded_pairs
from taskrunner_redis.keys import Keys
from taskrunner_redis.records import micros
from taskrunner_redis.settle import Settler
from taskrunner_redis.store import Aftermath, RedisStore

REGISTER_TRIES = 5  # registrations that may find a dependency's earlier end being judged
# (dependency, dependent, the dependent's queue): the news dep_register takes
Link = tuple[str, str, str]


class RedisDependencies:
    """The `Dependencies` ability of `RedisBackend`, and the judging that follows ends."""

    _store: RedisStore
    _settler: Settler
    _judge: Judge
    keys: Keys
    prefix: str

    async def dependents(self, job_id: str, limit: int = 100) -> list[str]:
        client, scripts = self._store.connected()
        with self._store.errors("listing dependents"):
            (queue,) = await self._store.locate([job_id])
            if queue is None or limit <= 0:
                return []
            route = self.keys.route(queue)
            _, _, *flat = await scripts.run("dep_read", route, [self.prefix, queue, job_id])
            # registered, maybe as ghosts (an enqueue that stored nothing): only those stored
            # and waiting count; ids are UUIDv7, so by id is oldest first
            found = sorted(decoded_pairs(flat))
            async with client.pipeline(transaction=False) as pipe:
                for dependent, its_queue in found:
                    pipe.hget(self.keys.job(its_queue, dependent), "state")
                states = await pipe.execute()
        waiting = (d for (d, _), state in zip(found, states, strict=True) if state == b"waiting")
        return [dependent for dependent, _ in zip(waiting, range(limit), strict=False)]

    async def _wait_entries(self, jobs: Sequence[NewJob]) -> dict[int, list[Any]]:
        """Before jobs are stored: register those with `after` at their dependencies, and
        answer for each (by index) what its enqueue.lua header ends with: no once-marker,
        then its dependencies' entry (see judge_new in lua/deps.lua). `DependencyNotFound`
        if one of their dependencies is not stored."""
        waiting = [i for i, job in enumerate(jobs) if job.after]
        if not waiting:
            return {}
        if any(jobs[i].batch_id is not None for i in waiting):
            raise ConfigurationError("a batch member cannot wait on other jobs (after=)")
        ids = list(dict.fromkeys(d for i in waiting for d in jobs[i].after))
        queues = dict(zip(ids, await self._store.locate(ids), strict=True))
        unknown = next((d for d in ids if queues[d] is None), None)
        if unknown is not None:
            raise DependencyNotFound(unknown)
        links = list(dict.fromkeys((d, jobs[i].id, jobs[i].queue) for i in waiting
                                   for d in jobs[i].after))  # fmt: skip
        states = await self._register(links, queues)
        missing = next((d for d, dependent, _ in links if states[d, dependent] == "missing"), None)
        if missing is not None:
            raise DependencyNotFound(missing)
        return {i: [False, wait_entry(jobs[i], states)] for i in waiting}

    async def _register(
        self, links: list[Link], queues: dict[str, str | None]
    ) -> dict[tuple[str, str], str]:
        """Register each dependent at its dependency (dep_register); answers per
        (dependency, dependent) the dependency's state as dep_register found it."""
        states: dict[tuple[str, str], str] = {}
        for _ in range(REGISTER_TRIES):
            answers = await self._store.per_queue(
                "dep_register", [queues[d] for d, _, _ in links], link_arguments(links), b"missing"
            )
            busy = []
            for link, answer in zip(links, answers, strict=True):
                if answer == b"busy":
                    busy.append(link)
                else:
                    states[link[0], link[1]] = answer.decode()
            if not busy:
                return states
            # an earlier end of the dependency is being judged (or a crash left it): judge
            # it here, so this enqueue waits for the next end
            await self._judge.judge_all({(queues[d] or "", d) for d, _, _ in busy})
            links = busy
        raise BackendError(f"job {links[0][0]} keeps ending while jobs are enqueued after it")

    async def _follow_up(self, left: Aftermath, settle_point: bool = False) -> None:
        """Do what ending jobs left to do: settle their batches, judge their dependents
        (`settle_point`: reach the crash point `before_settle` first, as finish does)."""
        if left.batches:
            if settle_point and faults.ARMED is not None:
                faults.reached("before_settle")  # a crash here: upkeep settles (dirty marks)
            await self._settler.settle_all(left.batches)
        if left.ended:
            if faults.ARMED is not None:
                faults.reached("before_dependents")  # a crash here: upkeep judges (ddirty)
            await self._judge.judge_all(left.ended)


def link_arguments(links: list[Link]) -> Callable[[list[int]], list[str]]:
    """dep_register's arguments for the links of one queue (see `RedisStore.per_queue`)."""
    return lambda items: [part for i in items for part in links[i]]


def wait_entry(job: NewJob, states: dict[tuple[str, str], str]) -> list[Any]:
    """A job's dependencies as enqueue.lua takes them: its `after` as the JSON its hash keeps,
    run-anyway, the ttl (us) of its record if a dependency cancels it (False: kept), and per
    dependency its id and the state dep_register answered."""
    return [
        orjson.dumps(list(job.after)).decode(),
        job.after_run_anyway,
        False if job.after_ttl is None else micros(job.after_ttl),
        [[dependency, states[dependency, job.id]] for dependency in job.after],
    ]
