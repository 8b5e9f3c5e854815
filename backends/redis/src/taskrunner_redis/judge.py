"""Judging the jobs that wait on an ended job: queuing those whose dependencies are all met,
cancelling those whose dependency failed or was cancelled, and in turn the jobs waiting on
those. The design is in dependencies.py."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from taskrunner.backend import faults
from taskrunner_redis.scripts import Call
from taskrunner_redis.store import Aftermath, RedisStore

log = logging.getLogger("taskrunner.redis")

JUDGE_CHUNK = 1000  # dependents one dep_judge run takes, at the most


class Judge:
    """Judges the dependents of the jobs of one store; every step is safe to repeat or to
    run concurrently."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    async def judge_all(self, ended: Iterable[tuple[str, str]]) -> None:
        """Judge the dependents of each ended job (its queue, its id), then those of the
        jobs this cancels in turn, until none is left: a loop, so a chain of any length
        costs no stack. A failure is logged, not raised: the end is stored already, and its
        ddirty mark brings upkeep (reclaim) to judge it."""
        todo = list(dict.fromkeys(ended))
        while todo:
            queue, job_id = todo.pop()
            try:
                todo += await self.judge(queue, job_id)
            except Exception as exc:
                log.warning("could not judge the jobs waiting on %s yet (%s: %s); upkeep will",
                            job_id, type(exc).__name__, exc)  # fmt: skip

    async def judge(self, queue: str, job_id: str) -> list[tuple[str, str]]:
        """Judge the dependents of one job, if it ended and they are not judged yet, then
        take them and its mark off. Answers the jobs cancelled here that others wait on."""
        _, scripts = self.store.connected()
        prefix, route = self.store.prefix, self.store.keys.route(queue)
        end, mark, *flat = await scripts.run("dep_read", route, [prefix, queue, job_id])
        if end is None:  # not ended (or judged meanwhile): nothing to judge
            if mark is not None:
                await scripts.run("dep_done", route, [prefix, queue, job_id, mark])
            return []
        dependents: dict[str, list[str]] = {}
        for dependent, its_queue in decoded_pairs(flat):
            dependents.setdefault(its_queue, []).append(dependent)
        calls: list[Call] = [
            ("dep_judge", self.store.keys.route(q),
             [prefix, q, job_id, end, *ids[i : i + JUDGE_CHUNK]])
            for q, ids in dependents.items()
            for i in range(0, len(ids), JUDGE_CHUNK)
        ]  # fmt: skip
        left = Aftermath()
        answers = await scripts.run_many(calls) if calls else []
        for (_, _, (_, q, *_)), answer in zip(calls, answers, strict=True):
            if answer:  # the dependents cancelled here that have dependents of their own
                left.add(q, answer[-1])
        if faults.ARMED is not None:
            faults.reached("before_dependents_done")  # a crash here: upkeep judges again
        judged = [d for ids in dependents.values() for d in ids]
        await scripts.run("dep_done", route, [prefix, queue, job_id, mark or b"", *judged])
        # a dependent is no batch member (the core refuses it), so `left.batches` is empty
        return left.ended


def decoded_pairs(flat: Sequence[bytes]) -> list[tuple[str, str]]:
    """Pairs of texts from a script's flat answer [a, b, a, b, ...]."""
    return [(a.decode(), b.decode()) for a, b in zip(flat[::2], flat[1::2], strict=True)]
