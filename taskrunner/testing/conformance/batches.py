"""Conformance tests of batches (`Batches`, where a backend has it): members counted with
each change of their state, and callbacks stored exactly once when the closed batch ends."""

from __future__ import annotations

import anyio
import pytest

from taskrunner.backend import (
    Backend,
    Batches,
    BatchRecord,
    JobState,
    NewBatch,
    NewJob,
    Outcome,
    OutcomeKind,
    new_job_id,
)
from taskrunner.errors import BatchNotOpen
from taskrunner.testing.conformance.helpers import (
    ON_TIME,
    SHORT,
    WORKER,
    Suite,
    new_job,
    state_of,
)


def batches(backend: Backend) -> Batches:
    if not isinstance(backend, Batches):
        pytest.skip("the backend keeps no batches (no Batches)")
    return backend


async def opened(
    backend: Backend, members: int = 0, callbacks: bool = True
) -> tuple[NewBatch, list[NewJob]]:
    """An open batch with callbacks (on queue "callbacks") and `members` stored members."""
    batch = NewBatch(
        new_job_id(),
        on_success=new_job("tests.on_success", queue="callbacks") if callbacks else None,
        on_complete=new_job("tests.on_complete", queue="callbacks") if callbacks else None,
    )
    await batches(backend).open_batch(batch)
    jobs = [new_job(batch_id=batch.id) for _ in range(members)]
    if jobs:
        await backend.enqueue(jobs)
    return batch, jobs


async def run_all(backend: Backend, kind: OutcomeKind = OutcomeKind.SUCCEEDED) -> None:
    """Claim every due job of the default queue and end each attempt with `kind`."""
    claimed = await backend.claim(["default"], 100, WORKER, 30)
    await backend.finish(
        [Outcome(r.id, r.attempt, kind, result=b"1", error=b"{}") for r in claimed]
    )


async def batch_of(backend: Backend, batch_id: str) -> BatchRecord:
    (record,) = await batches(backend).get_batches([batch_id])
    assert record is not None
    return record


async def fired(backend: Backend, batch: NewBatch) -> tuple[JobState | None, JobState | None]:
    """The states of the batch's callback jobs (None: not stored)."""
    assert batch.on_success is not None and batch.on_complete is not None
    return await state_of(backend, batch.on_success.id), await state_of(
        backend, batch.on_complete.id
    )


class BatchTests(Suite):
    """Batches: counts, callbacks, waiting, listing and cancelling."""

    async def test_members_are_counted_as_they_change(self, backend: Backend) -> None:
        batch, jobs = await opened(backend, 3)
        record = await batch_of(backend, batch.id)
        assert (record.total, record.closed, record.counts[JobState.QUEUED]) == (3, False, 3)
        (first,) = await backend.claim(["default"], 1, WORKER, 30)
        assert (await batch_of(backend, batch.id)).counts[JobState.RUNNING] == 1
        await backend.finish([Outcome(first.id, 1, OutcomeKind.RETRY, error=b"{}", delay=3600)])
        counts = (await batch_of(backend, batch.id)).counts
        assert (counts[JobState.SCHEDULED], counts[JobState.QUEUED]) == (1, 2)
        await backend.cancel([jobs[1].id], ttl=None)
        counts = (await batch_of(backend, batch.id)).counts
        assert counts[JobState.CANCELLED] == 1 and sum(counts.values()) == 3

    async def test_callbacks_wait_for_the_close_then_fire_once(self, backend: Backend) -> None:
        batch, _ = await opened(backend, 2)
        await run_all(backend)
        assert await fired(backend, batch) == (None, None)  # open: more members may come
        record = await batches(backend).close_batch(batch.id, ttl=None)
        assert record is not None and record.closed and record.ended_at is not None
        assert record.success_fired and record.complete_fired
        assert await fired(backend, batch) == (JobState.QUEUED, JobState.QUEUED)
        await batches(backend).close_batch(batch.id, ttl=None)  # again: nothing more
        claimed = await backend.claim(["callbacks"], 10, WORKER, 30)
        assert sorted(r.task for r in claimed) == ["tests.on_complete", "tests.on_success"]

    async def test_the_last_member_ending_fires_the_callbacks(self, backend: Backend) -> None:
        batch, _ = await opened(backend, 2)
        await batches(backend).close_batch(batch.id, ttl=None)
        (first,) = await backend.claim(["default"], 1, WORKER, 30)
        await backend.finish([Outcome(first.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        assert await fired(backend, batch) == (None, None)
        await run_all(backend)
        assert await fired(backend, batch) == (JobState.QUEUED, JobState.QUEUED)

    async def test_a_failed_member_fires_only_on_complete_until_retried(
        self, backend: Backend
    ) -> None:
        batch, _ = await opened(backend, 2)
        await batches(backend).close_batch(batch.id, ttl=None)
        (first,) = await backend.claim(["default"], 1, WORKER, 30)
        await backend.finish([Outcome(first.id, 1, OutcomeKind.FAILED, error=b"{}")])
        await run_all(backend)
        assert await fired(backend, batch) == (None, JobState.QUEUED)
        assert await backend.retry([first.id]) == [True]  # by hand
        record = await batch_of(backend, batch.id)
        assert record.ended_at is None and record.counts[JobState.QUEUED] == 1
        await run_all(backend)
        assert await fired(backend, batch) == (JobState.QUEUED, JobState.QUEUED)
        assert (await batch_of(backend, batch.id)).counts[JobState.SUCCEEDED] == 2
        assert len(await backend.claim(["callbacks"], 10, WORKER, 30)) == 2  # each once

    async def test_a_closed_batch_without_members_fires_at_once(self, backend: Backend) -> None:
        batch, _ = await opened(backend)
        record = await batches(backend).close_batch(batch.id, ttl=None)
        assert record is not None and record.total == 0 and record.ended_at is not None
        assert await fired(backend, batch) == (JobState.QUEUED, JobState.QUEUED)

    async def test_no_member_joins_a_closed_or_unknown_batch(self, backend: Backend) -> None:
        batch, _ = await opened(backend, 1)
        await batches(backend).close_batch(batch.id, ttl=None)
        bystander = new_job()
        with pytest.raises(BatchNotOpen):
            await backend.enqueue([bystander, new_job(batch_id=batch.id)])
        with pytest.raises(BatchNotOpen):
            await backend.enqueue([new_job(batch_id=new_job_id())])
        assert await state_of(backend, bystander.id) is None  # nothing of it was stored
        assert (await batch_of(backend, batch.id)).total == 1

    async def test_a_member_whose_key_is_taken_is_no_member(self, backend: Backend) -> None:
        holder = new_job(key="photo:1")
        await backend.enqueue([holder])
        batch, _ = await opened(backend)
        (answer,) = await backend.enqueue([new_job(key="photo:1", batch_id=batch.id)])
        assert answer == holder.id
        assert (await batch_of(backend, batch.id)).total == 0

    async def test_members_are_listed_in_order_and_batches_newest_first(
        self, backend: Backend
    ) -> None:
        older, _ = await opened(backend)
        batch, jobs = await opened(backend, 5)
        ids = [job.id for job in jobs]
        keeper = batches(backend)
        assert await keeper.batch_members(batch.id, 3) == ids[:3]
        assert await keeper.batch_members(batch.id, 10, after=ids[2]) == ids[3:]
        assert [b.id for b in await keeper.list_batches(10)][:2] == [batch.id, older.id]
        assert (await keeper.list_batches(10, before=batch.id))[0].id == older.id
        assert await keeper.get_batches([new_job_id()]) == [None]

    async def test_wait_batch_returns_when_the_last_member_ends(
        self, backend: Backend, peer: Backend
    ) -> None:
        batch, _ = await opened(backend, 2)
        keeper = batches(backend)
        await keeper.close_batch(batch.id, ttl=None)
        assert await keeper.wait_batch(batch.id, SHORT) is None  # not ended yet
        found: list[BatchRecord | None] = []
        ended = anyio.Event()

        async def wait() -> None:
            found.append(await keeper.wait_batch(batch.id, 30))
            ended.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await anyio.sleep(0.2)
            with anyio.fail_after(ON_TIME + 1):
                await run_all(peer)
                await ended.wait()
        (record,) = found
        assert record is not None and record.counts[JobState.SUCCEEDED] == 2

    async def test_cancel_batch_cancels_the_members_not_started(self, backend: Backend) -> None:
        batch, _ = await opened(backend, 3)
        (running,) = await backend.claim(["default"], 1, WORKER, 30)
        assert await batches(backend).cancel_batch(batch.id, ttl=None) == 2
        assert await state_of(backend, running.id) is JobState.RUNNING
        counts = (await batch_of(backend, batch.id)).counts
        assert (counts[JobState.CANCELLED], counts[JobState.RUNNING]) == (2, 1)

    async def test_an_ended_batch_is_kept_for_its_ttl(self, backend: Backend) -> None:
        batch, _ = await opened(backend, 1, callbacks=False)
        await batches(backend).close_batch(batch.id, ttl=SHORT)
        await run_all(backend)
        assert (await batch_of(backend, batch.id)).ended_at is not None
        await anyio.sleep(SHORT + 0.1)
        assert await batches(backend).get_batches([batch.id]) == [None]
