"""Dependencies on Redis beyond the conformance suite: the steps between a job's end and the
judging of its dependents that a crash may cut (upkeep finishes them, each change once),
an end judged between a dependent's registration and its store, a dependency ended again
(after a retry by hand) before its first end was judged, the error's exact bytes, and
purging waiting jobs. `RedisDependencyChecks` runs again in cluster mode under the slot
watcher (tests/redis/test_cluster.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from taskrunner import JobState
from taskrunner.backend import NewJob, Outcome, OutcomeKind, dependency_error
from taskrunner.testing.conformance.helpers import WORKER, new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.records import enqueue_header, finish_arguments
from taskrunner_redis.settle import SETTLE_GRACE


async def ended_alone(
    backend: RedisBackend, job: NewJob, kind: OutcomeKind, ttl: float = -1
) -> None:
    """Claim `job` and run finish.lua by itself: the job ends, and the process dies before
    judging its dependents."""
    (record,) = await backend.claim([job.queue], 1, WORKER, 30)
    assert record.id == job.id
    _, scripts = backend._store.connected()
    outcome = Outcome(job.id, record.attempt, kind, b"{}", b"{}", ttl=None if ttl < 0 else ttl)
    arguments = [backend.prefix, job.queue, *finish_arguments([outcome])]
    await scripts.run("finish", backend.keys.route(job.queue), arguments)


async def end(backend: RedisBackend, job: NewJob, kind: OutcomeKind) -> None:
    (record,) = await backend.claim([job.queue], 1, WORKER, 30)
    assert record.id == job.id
    await backend.finish([Outcome(job.id, record.attempt, kind, result=b"1", error=b"{}")])


async def upkeep(backend: RedisBackend) -> None:
    """Another worker's periodic reclaim, once the grace for live judging has passed."""
    await asyncio.sleep(SETTLE_GRACE + 0.2)
    await backend.reclaim()


async def states(backend: RedisBackend, *jobs: NewJob) -> list[JobState | None]:
    return [None if r is None else r.state for r in await backend.get([j.id for j in jobs])]


class RedisDependencyChecks:
    """Subclasses give `backend` (connected, empty) and `peer` (another process's)."""

    async def test_a_crash_before_the_judging_only_delays_it(
        self, backend: RedisBackend, peer: RedisBackend
    ) -> None:
        done, broken = new_job(queue="a"), new_job(queue="b")
        then = new_job(queue="c", after=(done.id,))
        cancelled = new_job(queue="c", after=(broken.id,))
        last = new_job(queue="d", after=(cancelled.id,))
        for job in (done, broken, then, cancelled, last):
            await backend.enqueue([job])
        await ended_alone(backend, done, OutcomeKind.SUCCEEDED)
        await ended_alone(backend, broken, OutcomeKind.FAILED)
        waiting = [JobState.WAITING] * 3
        assert await states(backend, then, cancelled, last) == waiting
        await peer.reclaim()  # the marks are younger than the grace: left to their process
        assert await states(backend, then, cancelled, last) == waiting
        await upkeep(peer)  # judges both ends, and the cancel that follows in turn
        assert await states(backend, then, cancelled, last) == [
            JobState.QUEUED, JobState.CANCELLED, JobState.CANCELLED,
        ]  # fmt: skip
        await upkeep(peer)  # again: nothing more
        assert [r.id for r in await backend.claim(["c", "d"], 10, WORKER, 30)] == [then.id]
        assert await backend.dependents(done.id) == []

    async def test_a_judging_cut_before_its_end_is_done_again_with_no_change(
        self, backend: RedisBackend, peer: RedisBackend
    ) -> None:
        first = new_job()
        then = new_job(queue="b", after=(first.id,))
        for job in (first, then):
            await backend.enqueue([job])
        await ended_alone(backend, first, OutcomeKind.SUCCEEDED)
        _, scripts = backend._store.connected()  # dep_judge's run, and no dep_done after it
        args = [backend.prefix, "b", first.id, "succeeded", then.id]
        await scripts.run("dep_judge", backend.keys.route("b"), args)
        (claimed,) = await backend.claim(["b"], 10, WORKER, 30)
        assert claimed.id == then.id
        await upkeep(peer)
        assert await backend.claim(["b"], 10, WORKER, 30) == []  # not queued twice
        client, _ = backend._store.connected()
        assert await client.zcard(backend.keys.queue("default", "ddirty")) == 0
        assert not await client.exists(backend.keys.queue("default", f"dependents:{first.id}"))

    async def test_an_end_judged_before_its_dependent_is_stored_counts(
        self, backend: RedisBackend
    ) -> None:
        done, failed = new_job(), new_job(queue="b")
        for job in (done, failed):
            await backend.enqueue([job])
        queued = new_job(queue="c", after=(done.id,))
        cancelled = new_job(queue="c", after=(failed.id,))
        # registered at their dependencies, then the ends are judged, then they are stored
        waits = await backend._wait_entries([queued, cancelled])
        await end(backend, done, OutcomeKind.SUCCEEDED)
        await end(backend, failed, OutcomeKind.FAILED)
        header = [[*enqueue_header(job), *waits[i]] for i, job in enumerate((queued, cancelled))]
        await backend._store.enqueue(
            ["c", "c"], lambda _: [orjson.dumps(header), queued.payload, cancelled.payload]
        )
        assert await states(backend, queued, cancelled) == [JobState.QUEUED, JobState.CANCELLED]
        (record,) = await backend.get([cancelled.id])
        assert record is not None and record.error == dependency_error(failed.id, JobState.FAILED)
        client, _ = backend._store.connected()
        assert not await client.exists(backend.keys.queue("c", f"early:{queued.id}"))

    async def test_an_end_after_a_retry_before_the_judging_changes_nothing(
        self, backend: RedisBackend
    ) -> None:
        first = new_job()
        then = new_job(queue="b", after=(first.id,))
        for job in (first, then):
            await backend.enqueue([job])
        await ended_alone(backend, first, OutcomeKind.FAILED)  # its first end, not judged
        assert await backend.retry([first.id]) == [True]
        later = new_job(queue="b", after=(first.id,))  # judges the first end, then waits
        await backend.enqueue([later])
        assert await states(backend, then, later) == [JobState.CANCELLED, JobState.WAITING]
        await end(backend, first, OutcomeKind.SUCCEEDED)
        assert await states(backend, then, later) == [JobState.CANCELLED, JobState.QUEUED]

    async def test_a_dependency_deleted_before_the_judging_is_still_judged(
        self, backend: RedisBackend, peer: RedisBackend
    ) -> None:
        first = new_job()
        then = new_job(queue="b", after=(first.id,))
        for job in (first, then):
            await backend.enqueue([job])
        await ended_alone(backend, first, OutcomeKind.SUCCEEDED, ttl=0)
        await peer.reclaim()  # deletes the record (its retention ended), not its dependents
        assert await backend.get([first.id]) == [None]
        await upkeep(peer)
        assert await states(backend, then) == [JobState.QUEUED]

    async def test_the_error_has_the_contract_bytes_whatever_the_id(
        self, backend: RedisBackend
    ) -> None:
        odd = new_job()
        odd.id = 'odd "id" \\ with\ttabs, \x01 controls and é/ü'
        at_end = new_job(queue="b", after=(odd.id,))
        for job in (odd, at_end):
            await backend.enqueue([job])
        await backend.cancel([odd.id], ttl=None)
        at_enqueue = new_job(queue="b", after=(odd.id,))
        await backend.enqueue([at_enqueue])
        expected = dependency_error(odd.id, JobState.CANCELLED)
        records = await backend.get([at_end.id, at_enqueue.id])
        assert [r.error for r in records if r is not None] == [expected, expected]

    async def test_waiting_jobs_can_be_purged(self, backend: RedisBackend) -> None:
        first = new_job()
        await backend.enqueue([first])
        waiting = [new_job(queue="b", after=(first.id,)) for _ in range(3)]
        await backend.enqueue(waiting)
        assert await backend.purge([JobState.WAITING]) == 3
        assert (await backend.stats(["b"]))["b"][JobState.WAITING] == 0
        assert await backend.dependents(first.id) == []
        await end(backend, first, OutcomeKind.SUCCEEDED)  # judges no one: they are gone
        assert await backend.claim(["b"], 10, WORKER, 30) == []
        client, _ = backend._store.connected()
        assert not await client.exists(
            *(backend.keys.queue("b", f"pending:{j.id}") for j in waiting)
        )


class TestRedisDependencies(RedisDependencyChecks):
    @pytest.fixture
    def backend(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend

    @pytest.fixture
    async def peer(self, redis_url: str) -> AsyncIterator[RedisBackend]:
        peer = RedisBackend(redis_url)
        await peer.connect()
        yield peer
        await peer.close()
