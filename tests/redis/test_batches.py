"""Batches on Redis beyond the conformance suite: crashes between a member's end and the
settle (or inside a close) only delay the callbacks, each still stored once; members on
several queues; a 10,000-member batch through a real worker. `RedisBatchChecks` runs again
in cluster mode under the slot watcher (tests/redis/test_cluster.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from taskrunner import JobState
from taskrunner.backend import NewBatch, Outcome, OutcomeKind, new_job_id
from taskrunner.testing.conformance.helpers import WORKER, new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.records import finish_arguments, micros
from taskrunner_redis.settle import SETTLE_GRACE


def with_callbacks(queue: str = "callbacks") -> NewBatch:
    return NewBatch(
        new_job_id(),
        on_success=new_job("tests.on_success", queue=queue),
        on_complete=new_job("tests.on_complete", queue=queue),
    )


async def callback_states(backend: RedisBackend, batch: NewBatch) -> list[JobState | None]:
    """The states of the batch's callback jobs, read from the jobs (not the batch, whose
    reads settle it)."""
    assert batch.on_success is not None and batch.on_complete is not None
    records = await backend.get([batch.on_success.id, batch.on_complete.id])
    return [None if r is None else r.state for r in records]


async def finish_alone(backend: RedisBackend, queue: str, outcomes: list[Outcome]) -> None:
    """Run finish.lua by itself: the member ends, and the process dies before its settle."""
    _, scripts = backend._store.connected()
    arguments = [backend.prefix, queue, *finish_arguments(outcomes)]
    await scripts.run("finish", backend.keys.route(queue), arguments)


async def upkeep(backend: RedisBackend) -> None:
    """Another worker's periodic reclaim, once the grace for live settles has passed."""
    await asyncio.sleep(SETTLE_GRACE + 0.2)
    await backend.reclaim()


class RedisBatchChecks:
    """Subclasses give `backend` (connected, empty) and `peer` (another process's)."""

    async def test_a_crash_after_the_last_member_ends_only_delays_the_callbacks(
        self, backend: RedisBackend, peer: RedisBackend
    ) -> None:
        batch = with_callbacks()
        await backend.open_batch(batch)
        await backend.enqueue([new_job(batch_id=batch.id) for _ in range(2)])
        await backend.close_batch(batch.id, ttl=None)
        first, second = await backend.claim(["default"], 2, WORKER, 30)
        await backend.finish([Outcome(first.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        await finish_alone(backend, "default", [Outcome(second.id, 1, OutcomeKind.SUCCEEDED)])
        assert await callback_states(backend, batch) == [None, None]
        await upkeep(peer)
        assert await callback_states(backend, batch) == [JobState.QUEUED, JobState.QUEUED]
        await upkeep(peer)  # again: nothing more
        assert len(await backend.claim(["callbacks"], 10, WORKER, 30)) == 2
        (record,) = await backend.get_batches([batch.id])
        assert record is not None and record.success_fired and record.complete_fired

    async def test_a_callback_stored_before_a_crash_is_not_stored_again(
        self, backend: RedisBackend, peer: RedisBackend
    ) -> None:
        batch = with_callbacks()
        await backend.open_batch(batch)
        await backend.close_batch(batch.id, ttl=None)  # no members: both fire at once
        claimed = await backend.claim(["callbacks"], 10, WORKER, 30)
        await backend.finish([Outcome(r.id, 1, OutcomeKind.SUCCEEDED, ttl=0) for r in claimed])
        # as if the settle had stopped between storing the callbacks and noting them
        # fired, and the callbacks had run and been deleted since
        client, _ = backend._store.connected()
        await client.hset(
            backend.keys.batch(batch.id, "batch"),
            mapping={"success_fired": 0, "complete_fired": 0},
        )
        await backend.reclaim()  # deletes the expired callback records
        (record,) = await peer.get_batches([batch.id])  # a read settles what is due
        assert record is not None and record.success_fired and record.complete_fired
        assert await callback_states(backend, batch) == [None, None]
        assert await backend.claim(["callbacks"], 10, WORKER, 30) == []

    async def test_a_crash_inside_a_close_is_settled_by_upkeep(
        self, backend: RedisBackend, peer: RedisBackend
    ) -> None:
        batch = with_callbacks()
        await backend.open_batch(batch)
        await backend.enqueue([new_job(batch_id=batch.id)])
        (member,) = await backend.claim(["default"], 1, WORKER, 30)
        await backend.finish([Outcome(member.id, 1, OutcomeKind.FAILED, error=b"{}")])
        _, scripts = backend._store.connected()  # close_batch's writes, without its settle
        index = backend.keys.batches("all")
        args = [backend.prefix, "closing", batch.id, micros(SETTLE_GRACE), -1]
        await scripts.run("batch_index", index, args)
        key = backend.keys.batch(batch.id, "batch")
        await scripts.run("batch_close", key, [backend.prefix, batch.id, -1])
        assert await callback_states(backend, batch) == [None, None]
        await upkeep(peer)
        assert await callback_states(backend, batch) == [None, JobState.QUEUED]
        client, _ = backend._store.connected()
        assert await client.zcard(backend.keys.batches("closing")) == 0

    async def test_members_on_several_queues_make_one_batch(
        self, backend: RedisBackend, peer: RedisBackend
    ) -> None:
        batch = with_callbacks(queue="albums")
        await backend.open_batch(batch)
        queues = ["a", "b", "c"]
        members = [new_job(queue=queues[n % 3], batch_id=batch.id) for n in range(9)]
        await backend.enqueue(members)
        assert await backend.batch_members(batch.id, 4) == [m.id for m in members[:4]]
        after = await backend.batch_members(batch.id, 10, after=members[4].id)
        assert after == [m.id for m in members[5:]]
        await backend.close_batch(batch.id, ttl=None)
        with pytest.raises(Exception, match="closed"):
            await backend.enqueue([new_job(queue="d", batch_id=batch.id)])
        for queue, kind in (("a", OutcomeKind.SUCCEEDED), ("b", OutcomeKind.FAILED)):
            claimed = await peer.claim([queue], 10, WORKER, 30)
            await peer.finish([Outcome(r.id, 1, kind, result=b"1", error=b"{}") for r in claimed])
        (record,) = await backend.get_batches([batch.id])
        assert record is not None and record.total == 9 and record.ended_at is None
        assert (record.counts[JobState.SUCCEEDED], record.counts[JobState.FAILED]) == (3, 3)
        assert record.counts[JobState.QUEUED] == 3 and not record.complete_fired
        assert await backend.cancel_batch(batch.id, ttl=None) == 3
        (record,) = await backend.get_batches([batch.id])
        assert record is not None and record.ended_at is not None
        assert record.complete_fired and not record.success_fired
        assert await callback_states(backend, batch) == [None, JobState.QUEUED]
        assert await backend.wait_batch(batch.id, 1) == record


class TestRedisBatches(RedisBatchChecks):
    @pytest.fixture
    def backend(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend

    @pytest.fixture
    async def peer(self, redis_url: str) -> AsyncIterator[RedisBackend]:
        peer = RedisBackend(redis_url)
        await peer.connect()
        yield peer
        await peer.close()
