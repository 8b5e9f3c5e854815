"""Conformance tests of claims and leases: claim order, due times and waits, heartbeats,
reclaim and the fencing of a lost attempt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import anyio
import pytest

from taskrunner.backend import (
    Backend,
    Beat,
    JobState,
    LeaseStatus,
    Outcome,
    OutcomeKind,
)
from taskrunner.job import JobInfo
from taskrunner.testing.conformance.helpers import (
    BEYOND_YEAR_9999,
    DUE_IN,
    IDLE_POLL,
    ON_TIME,
    SHORT,
    WORKER,
    Suite,
    claim_one,
    new_job,
    state_of,
)


async def claimed_after(backend: Backend, write: Callable[[], Awaitable[None]]) -> float:
    """Seconds from `write` (which makes a job due later) until an idle worker, blocked in
    `wait` with a poll far longer than that, claimed the job."""
    claimed = anyio.Event()

    async def idle_worker() -> None:
        while not await backend.claim(["default"], 1, WORKER, 30):
            await backend.wait(["default"], IDLE_POLL)
        claimed.set()

    with anyio.fail_after(IDLE_POLL / 2):  # the bound that proves a wait ended before its poll
        async with anyio.create_task_group() as tg:
            tg.start_soon(idle_worker)
            await anyio.sleep(0.2)  # the worker has found nothing and blocks in wait()
            started = anyio.current_time()
            await write()
            await claimed.wait()
    return anyio.current_time() - started


class ClaimTests(Suite):
    """Claim order, due times and waits, leases and heartbeats."""

    # -- claim order ----------------------------------------------------------------------

    async def test_claim_order_is_priority_then_age(self, backend: Backend) -> None:
        low = new_job(priority=10)
        first, second = new_job(), new_job()
        urgent = new_job(priority=-5)
        for job in (low, first, second, urgent):
            await backend.enqueue([job])
        claimed = await backend.claim(["default"], 10, WORKER, 30)
        assert [r.id for r in claimed] == [urgent.id, first.id, second.id, low.id]

    async def test_claim_orders_across_queues_by_priority(self, backend: Backend) -> None:
        a = new_job(queue="a", priority=1)
        b = new_job(queue="b", priority=0)
        await backend.enqueue([a, b])
        claimed = await backend.claim(["a", "b"], 10, WORKER, 30)
        assert [r.id for r in claimed] == [b.id, a.id]

    async def test_claim_takes_only_listed_queues_and_respects_limit(
        self, backend: Backend
    ) -> None:
        mine = [new_job(queue="mine") for _ in range(3)]
        other = new_job(queue="other")
        await backend.enqueue([*mine, other])
        claimed = await backend.claim(["mine"], 2, WORKER, 30)
        assert [r.id for r in claimed] == [mine[0].id, mine[1].id]
        assert await state_of(backend, other.id) is JobState.QUEUED
        assert await backend.claim(["nothing-here"], 5, WORKER, 30) == []

    async def test_claimed_job_is_running_with_a_lease(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend, lease=30)
        assert record.id == job.id
        assert record.state is JobState.RUNNING
        assert record.attempt == 1
        assert record.worker == WORKER
        assert record.started_at is not None and record.lease_until is not None
        assert 25 < record.lease_until - record.started_at <= 31
        assert await backend.claim(["default"], 5, "worker-b", 30) == []

    # -- delays ---------------------------------------------------------------------------

    async def test_delayed_job_is_not_claimable_early(self, backend: Backend) -> None:
        job = new_job(delay=SHORT)
        await backend.enqueue([job])
        assert await state_of(backend, job.id) is JobState.SCHEDULED
        assert await backend.claim(["default"], 5, WORKER, 30) == []
        await anyio.sleep(SHORT + 0.1)
        assert await state_of(backend, job.id) is JobState.QUEUED
        assert (await claim_one(backend)).id == job.id

    async def test_due_time_at_is_absolute(self, backend: Backend) -> None:
        now = await backend.now()
        past, future = new_job(at=now - 10), new_job(at=now + 3600)
        await backend.enqueue([past, future])
        claimed = await backend.claim(["default"], 5, WORKER, 30)
        assert [r.id for r in claimed] == [past.id]
        (record,) = await backend.get([future.id])
        assert record is not None and record.run_at == pytest.approx(now + 3600, abs=0.01)

    async def test_a_due_time_beyond_the_year_9999_reads_back(self, backend: Backend) -> None:
        job = new_job(at=BEYOND_YEAR_9999)
        await backend.enqueue([job])
        (record,) = await backend.get([job.id])
        assert record is not None and record.state is JobState.SCHEDULED
        assert record.run_at == pytest.approx(BEYOND_YEAR_9999, rel=1e-9)
        assert JobInfo.from_record(record).run_at == datetime.max.replace(tzinfo=UTC)
        assert await backend.claim(["default"], 5, WORKER, 30) == []

    async def test_wait_returns_when_a_job_is_enqueued(self, backend: Backend) -> None:
        async def enqueue_soon() -> None:
            await anyio.sleep(0.05)
            await backend.enqueue([new_job()])

        with anyio.fail_after(10):  # a guard: wait() below would block for 60 s
            async with anyio.create_task_group() as tg:
                tg.start_soon(enqueue_soon)
                await backend.wait(["default"], 60)
        assert len(await backend.claim(["default"], 5, WORKER, 30)) == 1

    async def test_wait_returns_when_a_delayed_job_falls_due(self, backend: Backend) -> None:
        await backend.enqueue([new_job(delay=SHORT)])
        with anyio.fail_after(10):
            while not await backend.claim(["default"], 1, WORKER, 30):
                await backend.wait(["default"], 60)

    async def test_an_idle_wait_ends_when_a_job_enqueued_during_it_falls_due(
        self, backend: Backend
    ) -> None:
        async def enqueue_delayed() -> None:
            await backend.enqueue([new_job(delay=DUE_IN)])

        waited = await claimed_after(backend, enqueue_delayed)
        assert waited < DUE_IN + ON_TIME

    async def test_an_idle_wait_ends_when_a_retry_written_during_it_falls_due(
        self, backend: Backend
    ) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)

        async def retry_later() -> None:
            retry = Outcome(job.id, record.attempt, OutcomeKind.RETRY, error=b"{}", delay=DUE_IN)
            assert await backend.finish([retry]) == [True]

        waited = await claimed_after(backend, retry_later)
        assert waited < DUE_IN + ON_TIME

    async def test_now_is_a_plausible_epoch_time(self, backend: Backend) -> None:
        import time

        assert abs(await backend.now() - time.time()) < 300

    # -- leases, heartbeats and fencing ---------------------------------------------------

    async def test_expired_lease_hands_the_job_to_another_worker(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        first = await claim_one(backend, lease=SHORT)
        assert await backend.reclaim() == []
        await anyio.sleep(SHORT + 0.1)
        assert await backend.reclaim() == [job.id]
        second = await claim_one(backend, worker="worker-b")
        assert (second.id, second.attempt, second.worker) == (job.id, 2, "worker-b")
        # the first attempt is fenced out: its heartbeat and its outcome are refused
        late = Beat(job.id, first.attempt)
        assert await backend.heartbeat([late], 30) == [LeaseStatus.LOST]
        stale = Outcome(job.id, first.attempt, OutcomeKind.SUCCEEDED, result=b"1", ttl=None)
        assert await backend.finish([stale]) == [False]
        current = Outcome(job.id, 2, OutcomeKind.SUCCEEDED, result=b"2", ttl=None)
        assert await backend.finish([current]) == [True]
        (record,) = await backend.get([job.id])
        assert record is not None
        assert (record.state, record.result, record.attempt) == (JobState.SUCCEEDED, b"2", 2)

    async def test_heartbeat_keeps_the_lease(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend, lease=SHORT)
        for _ in range(3):
            await anyio.sleep(SHORT / 2)
            assert await backend.heartbeat([Beat(job.id, record.attempt)], SHORT) == [
                LeaseStatus.HELD
            ]
            assert await backend.reclaim() == []
        assert await state_of(backend, job.id) is JobState.RUNNING

    async def test_heartbeat_stores_progress(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        await backend.heartbeat([Beat(job.id, record.attempt, b'{"done":3}')], 30)
        (stored,) = await backend.get([job.id])
        assert stored is not None and stored.progress == b'{"done":3}'
