"""Conformance tests of enqueue and get, and of dedup keys: a key is held by its job
until the job's record expires, and never longer."""

from __future__ import annotations

import anyio

from taskrunner.backend import (
    Backend,
    JobState,
    Outcome,
    OutcomeKind,
    new_job_id,
)
from taskrunner.testing.conformance.helpers import (
    SHORT,
    WORKER,
    Suite,
    claim_one,
    enqueue_racing,
    finish_expiring,
    new_job,
)


class EnqueueTests(Suite):
    """Enqueue, get and dedup keys."""

    # -- enqueue and get ------------------------------------------------------------------

    async def test_enqueue_stores_jobs_as_given(self, backend: Backend) -> None:
        job = new_job(queue="mail", priority=5, payload=b'{"args":[1],"kwargs":{}}')
        assert await backend.enqueue([job]) == [job.id]
        (record,) = await backend.get([job.id])
        assert record is not None
        assert (record.task, record.queue, record.priority, record.payload) == (
            "tests.noop",
            "mail",
            5,
            b'{"args":[1],"kwargs":{}}',
        )
        assert record.state is JobState.QUEUED
        assert (record.attempt, record.max_attempts) == (0, 3)
        assert record.started_at is None and record.finished_at is None
        assert record.run_at >= record.enqueued_at

    async def test_get_unknown_id_is_none(self, backend: Backend) -> None:
        known = new_job()
        await backend.enqueue([known])
        records = await backend.get([new_job_id(), known.id])
        assert records[0] is None and records[1] is not None

    async def test_batch_enqueue_stores_every_job(self, backend: Backend) -> None:
        jobs = [new_job() for _ in range(200)]
        assert await backend.enqueue(jobs) == [j.id for j in jobs]
        stats = await backend.stats(["default"])
        assert stats["default"][JobState.QUEUED] == 200

    async def test_enqueueing_the_same_job_again_changes_nothing(self, backend: Backend) -> None:
        # a client that lost the reply to an enqueue may send it again
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        assert await backend.enqueue([job]) == [job.id]
        (stored,) = await backend.get([job.id])
        assert stored is not None
        assert (stored.state, stored.attempt) == (JobState.RUNNING, record.attempt)
        assert await backend.claim(["default"], 5, WORKER, 30) == []

    # -- dedup keys -----------------------------------------------------------------------

    async def test_dedup_key_keeps_one_job(self, backend: Backend) -> None:
        first, second = new_job(key="feed:42"), new_job(key="feed:42")
        other = new_job(key="feed:43")
        assert await backend.enqueue([first]) == [first.id]
        assert await backend.enqueue([second, other]) == [first.id, other.id]
        assert await backend.get([second.id]) == [None]
        stats = await backend.stats(["default"])
        assert stats["default"][JobState.QUEUED] == 2

    async def test_dedup_key_within_one_batch(self, backend: Backend) -> None:
        a, b = new_job(key="same"), new_job(key="same")
        assert await backend.enqueue([a, b]) == [a.id, a.id]

    async def test_dedup_key_is_scoped_to_its_queue(self, backend: Backend) -> None:
        first, second = new_job(queue="a", key="feed:42"), new_job(queue="b", key="feed:42")
        assert await backend.enqueue([first]) == [first.id]
        assert await backend.enqueue([second]) == [second.id]
        stored = await backend.get([first.id, second.id])
        assert [r.queue if r else None for r in stored] == ["a", "b"]
        assert (await claim_one(backend, queue="a")).id == first.id
        assert (await claim_one(backend, queue="b")).id == second.id
        # within one batch too, each queue keeping its own first job
        c, d, e = (new_job(queue=q, key="same") for q in ("c", "d", "c"))
        assert await backend.enqueue([c, d, e]) == [c.id, d.id, c.id]
        # deleting one queue's holder frees the key there only
        await backend.finish([Outcome(first.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        assert await backend.purge([JobState.SUCCEEDED], queue="a") == 1
        again_a, again_b = new_job(queue="a", key="feed:42"), new_job(queue="b", key="feed:42")
        assert await backend.enqueue([again_a, again_b]) == [again_a.id, second.id]

    # -- keys of expiring records ---------------------------------------------------------

    async def test_finished_job_holds_its_key_until_its_record_expires(
        self, backend: Backend
    ) -> None:
        job = new_job(key="report")
        await backend.enqueue([job])
        await claim_one(backend)
        await backend.finish([Outcome(job.id, 1, OutcomeKind.SUCCEEDED, result=b"1", ttl=SHORT)])
        assert await backend.enqueue([new_job(key="report")]) == [job.id]
        await anyio.sleep(SHORT + 0.1)
        await backend.reclaim()
        assert await backend.get([job.id]) == [None]
        fresh = new_job(key="report")
        assert await backend.enqueue([fresh]) == [fresh.id]

    async def test_an_expired_key_never_blocks_an_enqueue(self, backend: Backend) -> None:
        expiring = await finish_expiring(backend)
        again = [new_job(key=job.key) for job in expiring]
        assert await backend.enqueue(again) == [job.id for job in expiring]  # still held
        await anyio.sleep(SHORT + 0.1)
        fresh = [new_job(key=job.key) for job in expiring]
        assert await backend.enqueue(fresh) == [job.id for job in fresh]
        records = await backend.get([job.id for job in fresh])
        assert [r.state if r else None for r in records] == [JobState.QUEUED] * 3
        counts = (await backend.stats(["default"]))["default"]
        assert counts[JobState.QUEUED] == 3
        assert sum(counts.values()) == 3
        # the new holders hold their keys in turn
        assert await backend.enqueue([new_job(key=job.key) for job in expiring]) == [
            job.id for job in fresh
        ]

    async def test_racing_enqueues_for_an_expired_key_store_one_job(self, backend: Backend) -> None:
        (holder, *_) = await finish_expiring(backend)
        await anyio.sleep(SHORT + 0.1)
        rivals = [new_job(key=holder.key) for _ in range(8)]
        winners = await enqueue_racing(backend, rivals)
        assert len(winners) == 1 and winners <= {job.id for job in rivals}
        assert (await backend.stats(["default"]))["default"][JobState.QUEUED] == 1
