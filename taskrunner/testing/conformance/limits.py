"""Conformance tests of per-key concurrency limits (`NewJob.limit_key`): at most `limit_max`
running per (queue, key), slots freed by every end of an attempt and by reclaim, held jobs
that stay queued and block nobody, and the wake-up when a slot frees."""

from __future__ import annotations

from typing import Any

import anyio

from taskrunner.backend import (
    Backend,
    Held,
    JobRecord,
    JobState,
    NewJob,
    Outcome,
    OutcomeKind,
)
from taskrunner.testing.conformance.helpers import (
    IDLE_POLL,
    ON_TIME,
    SHORT,
    WORKER,
    Suite,
    new_job,
)


def limited(key: str = "customer:1", limit: int = 1, **fields: Any) -> NewJob:
    """A job whose limit key is `key`, at most `limit` running."""
    return new_job(limit_key=key, limit_max=limit, **fields)


async def claim_ids(
    backend: Backend, n: int = 100, queues: tuple[str, ...] = ("default",)
) -> set[str]:
    return {record.id for record in await backend.claim(list(queues), n, WORKER, 30)}


async def record_of(backend: Backend, job_id: str) -> JobRecord:
    (record,) = await backend.get([job_id])
    assert record is not None
    return record


async def end(backend: Backend, record: JobRecord, kind: OutcomeKind, delay: float = 0.0) -> None:
    assert await backend.finish([Outcome(record.id, record.attempt, kind, delay=delay)]) == [True]


async def claimed_when_freed(
    backend: Backend, free: Any, queues: tuple[str, ...] = ("default",)
) -> set[str]:
    """What an idle worker (blocked in `wait`, with a poll far longer than the test) claims
    once `free()` has freed a slot: the wait must end by itself, soon."""
    found: set[str] = set()
    done = anyio.Event()

    async def idle_worker() -> None:
        while not (ids := await claim_ids(backend, 10, queues)):
            await backend.wait(list(queues), IDLE_POLL)
        found.update(ids)
        done.set()

    with anyio.fail_after(IDLE_POLL / 2):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(idle_worker)
            await anyio.sleep(0.2)  # the worker found nothing and blocks in wait()
            assert not done.is_set()
            await free()
            with anyio.fail_after(ON_TIME):
                await done.wait()
    return found


class LimitTests(Suite):
    """Per-key concurrency limits, judged by the claim."""

    async def test_the_flow_fields_read_back(self, backend: Backend) -> None:
        job = new_job(limit_key="c:1", limit_max=2, rate_key="api", rate_max=5, rate_per=1.5)
        await backend.enqueue([job])
        record = await record_of(backend, job.id)
        assert (record.limit_key, record.limit_max) == ("c:1", 2)
        assert (record.rate_key, record.rate_max, record.rate_per) == ("api", 5, 1.5)
        assert record.held is None
        plain = new_job()
        await backend.enqueue([plain])
        record = await record_of(backend, plain.id)
        assert record.limit_key is None and record.rate_key is None and record.held is None
        (claimed,) = [r for r in await backend.claim(["default"], 10, WORKER, 30) if r.id == job.id]
        assert (claimed.limit_key, claimed.limit_max, claimed.rate_key) == ("c:1", 2, "api")

    async def test_at_most_max_run_per_key(self, backend: Backend) -> None:
        a = [limited("a", 2) for _ in range(5)]
        b = [limited("b", 2) for _ in range(3)]
        free = new_job()
        await backend.enqueue([*a, *b, free])
        claimed = await claim_ids(backend)
        assert claimed == {a[0].id, a[1].id, b[0].id, b[1].id, free.id}
        assert await claim_ids(backend) == set()
        for job in (*a[2:], b[2]):
            record = await record_of(backend, job.id)
            assert record.state is JobState.QUEUED and record.attempt == 0
            assert record.held is Held.LIMIT
        counts = (await backend.stats(["default"]))["default"]
        assert counts[JobState.QUEUED] == 4 and counts[JobState.RUNNING] == 5

    async def test_held_jobs_do_not_block_other_keys(self, backend: Backend) -> None:
        hot = [limited("hot", 1) for _ in range(60)]
        others = [limited(f"cold:{n}", 1) for n in range(5)]
        plain = [new_job() for _ in range(5)]
        await backend.enqueue(hot)
        await backend.enqueue([*others, *plain])
        assert await claim_ids(backend, 11) == {hot[0].id} | {j.id for j in others + plain}
        # a claim of one at a time still finds nothing more, and sets nothing wrong
        assert await claim_ids(backend, 1) == set()
        late = new_job()
        await backend.enqueue([late])
        assert await claim_ids(backend, 1) == {late.id}

    async def test_held_jobs_do_not_block_other_queues(self, backend: Backend) -> None:
        # the best two due jobs across the queues are both of one key at its limit: the
        # second is held back, and the claim takes the other queue's job in its place
        first, second = (limited("hot", 1, queue="b", priority=-1) for _ in range(2))
        other = new_job(queue="a")
        await backend.enqueue([other])
        await backend.enqueue([first, second])
        assert await claim_ids(backend, 2, ("a", "b")) == {first.id, other.id}

    async def test_a_claim_of_few_skips_held_jobs(self, backend: Backend) -> None:
        hot = [limited("hot", 1) for _ in range(20)]
        plain = new_job()
        await backend.enqueue(hot)
        await backend.enqueue([plain])
        await claim_ids(backend, 1)  # takes hot[0]
        assert await claim_ids(backend, 1) == {plain.id}

    async def test_keys_are_per_queue_and_apart_from_rate_keys(self, backend: Backend) -> None:
        here, there = limited("k", 1, queue="here"), limited("k", 1, queue="there")
        rated = new_job(queue="here", rate_key="k", rate_max=100, rate_per=60)
        await backend.enqueue([here, there, rated])
        assert await claim_ids(backend, 10, ("here", "there")) == {here.id, there.id, rated.id}

    async def test_every_end_of_an_attempt_frees_its_slot(self, backend: Backend) -> None:
        jobs = [limited("k", 1) for _ in range(6)]
        await backend.enqueue(jobs)
        for kind in (OutcomeKind.SUCCEEDED, OutcomeKind.FAILED, OutcomeKind.CANCELLED):
            (record,) = await backend.claim(["default"], 10, WORKER, 30)
            await end(backend, record, kind)
        (record,) = await backend.claim(["default"], 10, WORKER, 30)
        await end(backend, record, OutcomeKind.RETRY, delay=3600)  # back later: slot free now
        (record,) = await backend.claim(["default"], 10, WORKER, 30)
        await end(backend, record, OutcomeKind.RELEASED, delay=3600)  # a snooze
        (record,) = await backend.claim(["default"], 10, WORKER, 30)
        assert record.id == jobs[5].id

    async def test_held_jobs_run_in_claim_order_as_slots_free(self, backend: Backend) -> None:
        first = limited("k", 1)
        later = [limited("k", 1) for _ in range(3)]
        urgent = limited("k", 1, priority=-1)
        await backend.enqueue([first])
        await claim_ids(backend)
        await backend.enqueue(later)
        await claim_ids(backend)  # sets them aside
        await backend.enqueue([urgent])
        order = []
        running = await record_of(backend, first.id)
        for _ in range(4):
            await end(backend, running, OutcomeKind.SUCCEEDED)
            (running,) = await backend.claim(["default"], 10, WORKER, 30)
            order.append(running.id)
        assert order == [urgent.id, *(j.id for j in later)]

    async def test_the_max_of_the_job_being_claimed_applies(self, backend: Backend) -> None:
        narrow, wide = limited("k", 1), limited("k", 2)
        await backend.enqueue([narrow])
        assert await claim_ids(backend) == {narrow.id}
        await backend.enqueue([wide])
        assert await claim_ids(backend) == {wide.id}  # one running < its max of 2

    async def test_an_expired_lease_frees_the_slot(self, backend: Backend) -> None:
        first, second = limited("k", 1), limited("k", 1)
        await backend.enqueue([first, second])
        (record,) = await backend.claim(["default"], 10, WORKER, SHORT)
        assert record.id == first.id
        assert await claim_ids(backend) == set()
        await anyio.sleep(SHORT + 0.1)
        assert first.id in await backend.reclaim()
        # the slot is free: the first job (back in its queue, first in order) runs again
        (again,) = await backend.claim(["default"], 10, WORKER, 30)
        assert (again.id, again.attempt) == (first.id, 2)
        assert await claim_ids(backend) == set()

    async def test_a_cancelled_held_job_leaves_no_stuck_slot(self, backend: Backend) -> None:
        running, held, behind = (limited("k", 1) for _ in range(3))
        await backend.enqueue([running, held, behind])
        (record,) = await backend.claim(["default"], 10, WORKER, 30)
        assert await claim_ids(backend) == set()
        assert await backend.cancel([held.id], ttl=None) == [JobState.CANCELLED]
        await end(backend, record, OutcomeKind.SUCCEEDED)
        assert await claim_ids(backend) == {behind.id}
        assert (await record_of(backend, held.id)).held is None

    async def test_a_job_cancelled_after_its_key_freed_leaves_no_stuck_slot(
        self, backend: Backend
    ) -> None:
        running, handed, behind = (limited("k", 1) for _ in range(3))
        await backend.enqueue([running, handed, behind])
        (record,) = await backend.claim(["default"], 10, WORKER, 30)
        assert await claim_ids(backend) == set()
        await end(backend, record, OutcomeKind.SUCCEEDED)  # the slot goes to `handed`...
        assert await backend.cancel([handed.id], ttl=None) == [JobState.CANCELLED]
        assert await claim_ids(backend) == {behind.id}  # ...which gives it on when cancelled

    async def test_a_retried_job_keeps_to_the_limit(self, backend: Backend) -> None:
        failed, running = limited("k", 1), limited("k", 1)
        await backend.enqueue([failed])
        (record,) = await backend.claim(["default"], 10, WORKER, 30)
        await end(backend, record, OutcomeKind.FAILED)
        await backend.enqueue([running])
        assert await claim_ids(backend) == {running.id}
        assert await backend.retry([failed.id]) == [True]
        assert await claim_ids(backend) == set()
        (record,) = [r for r in await backend.get([running.id]) if r is not None]
        await end(backend, record, OutcomeKind.SUCCEEDED)
        assert await claim_ids(backend) == {failed.id}

    async def test_racing_claims_never_exceed_the_limit(
        self, backend: Backend, peer: Backend
    ) -> None:
        jobs = [limited(f"k:{n % 3}", 2) for n in range(30)]
        await backend.enqueue(jobs)
        claimed: list[JobRecord] = []

        async def claim(client: Backend) -> None:
            claimed.extend(await client.claim(["default"], 4, WORKER, 30))

        async with anyio.create_task_group() as tasks:
            for n in range(8):
                tasks.start_soon(claim, backend if n % 2 else peer)
        keys = [str(record.limit_key) for record in claimed]
        assert max(keys.count(key) for key in set(keys)) <= 2  # never over the limit
        # a claim may pass over a key that a racing claim is deciding (Postgres only tries
        # its lock): whatever slots the race left free, the next claim takes
        claimed.extend(await backend.claim(["default"], 10, WORKER, 30))
        keys = [str(record.limit_key) for record in claimed]
        assert sorted(keys) == sorted(["k:0", "k:1", "k:2"] * 2)

    async def test_an_idle_worker_wakes_when_a_slot_frees(
        self, backend: Backend, peer: Backend
    ) -> None:
        first, second = limited("k", 1), limited("k", 1)
        await backend.enqueue([first, second])
        (record,) = await peer.claim(["default"], 10, WORKER, 30)

        async def free() -> None:
            await end(peer, record, OutcomeKind.SUCCEEDED)

        assert await claimed_when_freed(backend, free) == {second.id}
