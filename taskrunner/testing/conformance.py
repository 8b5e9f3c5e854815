"""Every backend-visible behaviour, as tests any backend can run (see `taskrunner.testing`).

Times here are short real delays (a few hundred milliseconds): a backend judges time on its
own clock, which a test cannot fake for Redis or Postgres.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from taskrunner.backend import (
    Backend,
    Beat,
    CancelSignals,
    JobRecord,
    JobState,
    LeaseStatus,
    NewJob,
    Outcome,
    OutcomeKind,
    new_job_id,
)
from taskrunner.job import JobInfo

pytestmark = pytest.mark.anyio

SHORT = 0.3  # a lease or delay that runs out during a test
DUE_IN = 0.7  # a job written while a worker waits falls due this much later
IDLE_POLL = 30.0  # the longest an idle worker waits in the tests of due times
ON_TIME = 1.5  # slack after a due time, far below IDLE_POLL: proves the wait ended by itself
# a due time in the year 160,000: the core refuses it, but plain SQL or an older version may
# have stored it, and reads must neither fail nor move it
BEYOND_YEAR_9999 = 5e12
WORKER = "worker-a"


def new_job(task: str = "tests.noop", **fields: Any) -> NewJob:
    """A NewJob with a fresh id and sensible defaults, for backend tests."""
    fields.setdefault("queue", "default")
    fields.setdefault("payload", b'{"args":[],"kwargs":{}}')
    fields.setdefault("max_attempts", 3)
    return NewJob(id=new_job_id(), task=task, **fields)


async def claim_one(
    backend: Backend, queue: str = "default", lease: float = 30.0, worker: str = WORKER
) -> JobRecord:
    (record,) = await backend.claim([queue], 1, worker, lease)
    return record


async def finish_expiring(backend: Backend) -> list[NewJob]:
    """Three jobs with dedup keys, each ended with a retention of SHORT seconds: one
    succeeded, one failed, and one cancelled while it waited."""
    done, failed, cancelled = (new_job(key=f"expiring:{n}") for n in range(3))
    await backend.enqueue([done, failed, cancelled])
    await backend.cancel([cancelled.id], ttl=SHORT)
    await backend.claim(["default"], 2, WORKER, 30)
    await backend.finish(
        [
            Outcome(done.id, 1, OutcomeKind.SUCCEEDED, result=b"1", ttl=SHORT),
            Outcome(failed.id, 1, OutcomeKind.FAILED, error=b"{}", ttl=SHORT),
        ]
    )
    return [done, failed, cancelled]


async def state_of(backend: Backend, job_id: str) -> JobState | None:
    (record,) = await backend.get([job_id])
    return None if record is None else record.state


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


@pytest.mark.anyio
class BackendConformance:
    """Subclass with a `backend` fixture yielding a connected, empty backend. Where separate
    instances share one store (a server), override `peer` to yield a second one."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def peer(self, backend: Backend) -> Backend:
        """Another client of the store `backend` uses, as another process would hold: by
        default `backend` itself."""
        return backend

    # -- enqueue and get ---------------------------------------------------------------------

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

    # -- claim order -----------------------------------------------------------------------

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

    # -- delays ------------------------------------------------------------------------------

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

    # -- leases, heartbeats and fencing ------------------------------------------------------

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

    async def test_an_outcome_is_applied_once(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        done = Outcome(job.id, record.attempt, OutcomeKind.SUCCEEDED, result=b"1", ttl=None)
        assert await backend.finish([done]) == [True]
        again = Outcome(job.id, record.attempt, OutcomeKind.FAILED, error=b"{}", ttl=None)
        assert await backend.finish([again]) == [False]
        assert await state_of(backend, job.id) is JobState.SUCCEEDED

    async def test_finish_applies_a_batch(self, backend: Backend) -> None:
        jobs = [new_job() for _ in range(3)]
        await backend.enqueue(jobs)
        claimed = await backend.claim(["default"], 3, WORKER, 30)
        outcomes = [
            Outcome(claimed[0].id, 1, OutcomeKind.SUCCEEDED, result=b"null", ttl=None),
            Outcome(claimed[1].id, 1, OutcomeKind.FAILED, error=b'{"type":"E"}', ttl=None),
            Outcome(claimed[2].id, 1, OutcomeKind.CANCELLED, ttl=None),
        ]
        assert await backend.finish(outcomes) == [True, True, True]
        records = await backend.get([r.id for r in claimed])
        assert [r.state for r in records if r] == [
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
        ]
        assert all(r is not None and r.finished_at is not None for r in records)
        assert records[1] is not None and records[1].error == b'{"type":"E"}'

    # -- retries and putting back ------------------------------------------------------------

    async def test_retry_at_waits_then_runs_the_next_attempt(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        retry = Outcome(
            job.id, record.attempt, OutcomeKind.RETRY, error=b'{"type":"E"}', delay=SHORT
        )
        assert await backend.finish([retry]) == [True]
        (waiting,) = await backend.get([job.id])
        assert waiting is not None and waiting.state is JobState.SCHEDULED
        assert waiting.error == b'{"type":"E"}'
        assert await backend.claim(["default"], 5, WORKER, 30) == []
        await anyio.sleep(SHORT + 0.1)
        again = await claim_one(backend)
        assert (again.id, again.attempt) == (job.id, 2)

    async def test_retry_without_delay_is_due_at_once(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        await backend.finish([Outcome(job.id, record.attempt, OutcomeKind.RETRY, error=b"{}")])
        assert (await claim_one(backend)).attempt == 2

    async def test_released_job_is_queued_without_using_an_attempt(self, backend: Backend) -> None:
        job = new_job(max_attempts=1)
        await backend.enqueue([job])
        record = await claim_one(backend)
        assert await backend.finish([Outcome(job.id, 1, OutcomeKind.RELEASED)]) == [True]
        (queued,) = await backend.get([job.id])
        assert queued is not None and queued.state is JobState.QUEUED
        assert (queued.attempt, queued.max_attempts) == (record.attempt, 2)
        assert (await claim_one(backend)).attempt == 2

    async def test_manual_retry_of_a_failed_job_allows_one_more_attempt(
        self, backend: Backend
    ) -> None:
        job = new_job(max_attempts=1)
        await backend.enqueue([job])
        await claim_one(backend)
        await backend.finish([Outcome(job.id, 1, OutcomeKind.FAILED, error=b"{}", ttl=60)])
        assert await backend.retry([job.id]) == [True]
        (record,) = await backend.get([job.id])
        assert record is not None and record.state is JobState.QUEUED
        assert record.max_attempts == 2 and record.finished_at is None
        assert (await claim_one(backend)).attempt == 2

    async def test_manual_retry_runs_a_scheduled_job_now(self, backend: Backend) -> None:
        job = new_job(delay=3600)
        await backend.enqueue([job])
        assert await backend.retry([job.id]) == [True]
        assert (await claim_one(backend)).id == job.id

    async def test_manual_retry_refuses_other_states(self, backend: Backend) -> None:
        queued, done = new_job(), new_job()
        await backend.enqueue([done])
        await claim_one(backend)
        await backend.finish([Outcome(done.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        await backend.enqueue([queued])
        assert await backend.retry([queued.id, done.id, new_job_id()]) == [False, False, False]

    # -- dedup keys --------------------------------------------------------------------------

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

    # -- cancel ------------------------------------------------------------------------------

    async def test_cancel_queued_and_scheduled_jobs(self, backend: Backend) -> None:
        queued, scheduled = new_job(), new_job(delay=3600)
        await backend.enqueue([queued, scheduled])
        states = await backend.cancel([queued.id, scheduled.id, new_job_id()], ttl=None)
        assert states == [JobState.CANCELLED, JobState.CANCELLED, None]
        assert await backend.claim(["default"], 5, WORKER, 30) == []
        (record,) = await backend.get([queued.id])
        assert record is not None and record.finished_at is not None

    async def test_cancel_running_job_asks_its_worker(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)
        assert await backend.cancel([job.id], ttl=None) == [JobState.RUNNING]
        (flagged,) = await backend.get([job.id])
        assert flagged is not None and flagged.cancel_requested
        assert await backend.heartbeat([Beat(job.id, record.attempt)], 30) == [LeaseStatus.CANCEL]
        await backend.finish([Outcome(job.id, record.attempt, OutcomeKind.CANCELLED)])
        assert await state_of(backend, job.id) is JobState.CANCELLED

    async def test_cancel_of_a_running_job_is_signalled_to_listeners(
        self, backend: Backend, peer: Backend
    ) -> None:
        if not isinstance(peer, CancelSignals):
            pytest.skip("the backend has no CancelSignals: workers see cancels at heartbeats")
        running, queued = new_job(), new_job()
        await backend.enqueue([running])
        await claim_one(backend)
        await backend.enqueue([queued])
        async with peer.cancel_requests() as requests:
            await backend.cancel([queued.id, running.id], ttl=None)
            with anyio.fail_after(5):
                assert await anext(requests) == [running.id]  # the queued one needs no worker
            await backend.cancel([running.id], ttl=None)  # asked again: told again
            with anyio.fail_after(5):
                assert await anext(requests) == [running.id]

    async def test_cancel_finished_job_changes_nothing(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        await claim_one(backend)
        await backend.finish([Outcome(job.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        assert await backend.cancel([job.id], ttl=None) == [JobState.SUCCEEDED]

    # -- retention, stats, purge -------------------------------------------------------------

    async def test_result_ttl_expires_finished_jobs(self, backend: Backend) -> None:
        short, kept = new_job(), new_job()
        await backend.enqueue([short, kept])
        await backend.claim(["default"], 2, WORKER, 30)
        await backend.finish(
            [
                Outcome(short.id, 1, OutcomeKind.SUCCEEDED, result=b"1", ttl=SHORT),
                Outcome(kept.id, 1, OutcomeKind.FAILED, error=b"{}", ttl=None),
            ]
        )
        await anyio.sleep(SHORT + 0.1)
        await backend.reclaim()
        records = await backend.get([short.id, kept.id])
        assert records[0] is None
        assert records[1] is not None and records[1].state is JobState.FAILED

    async def test_expired_records_are_gone_without_a_reclaim(self, backend: Backend) -> None:
        # no worker runs, so nothing tidies up: every read must judge retention itself
        expiring = await finish_expiring(backend)
        kept = new_job(key="kept")
        await backend.enqueue([kept])
        await claim_one(backend)
        await backend.finish([Outcome(kept.id, 1, OutcomeKind.FAILED, error=b"{}", ttl=3600)])
        ids = [job.id for job in expiring]
        assert [r.state if r else None for r in await backend.get(ids)] == [
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
        ]
        await anyio.sleep(SHORT + 0.1)
        records = await backend.get([*ids, kept.id])
        assert records[:3] == [None, None, None]
        assert records[3] is not None and records[3].state is JobState.FAILED
        for job_id in ids:
            assert await backend.wait_finished(job_id, 0.05) is None
        assert await backend.cancel(ids, ttl=None) == [None, None, None]
        assert await backend.retry(ids) == [False, False, False]
        counts = (await backend.stats(["default"]))["default"]
        assert (counts[JobState.SUCCEEDED], counts[JobState.FAILED]) == (0, 1)
        assert counts[JobState.CANCELLED] == 0
        assert await backend.purge([JobState.SUCCEEDED, JobState.CANCELLED]) == 0

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
        answers: list[list[str]] = []

        async def enqueue(job: NewJob) -> None:
            answers.append(await backend.enqueue([job]))

        async with anyio.create_task_group() as tg:
            for job in rivals:
                tg.start_soon(enqueue, job)
        winners = {answer for (answer,) in answers}
        assert len(winners) == 1 and winners <= {job.id for job in rivals}
        assert (await backend.stats(["default"]))["default"][JobState.QUEUED] == 1

    async def test_stats_count_jobs_by_queue_and_state(self, backend: Backend) -> None:
        await backend.enqueue([new_job(queue="a") for _ in range(3)])
        await backend.enqueue([new_job(queue="a", delay=3600), new_job(queue="b")])
        running = await claim_one(backend, queue="a")
        await backend.finish([Outcome(running.id, 1, OutcomeKind.SUCCEEDED, result=b"1")])
        await claim_one(backend, queue="a")
        stats = await backend.stats(["a", "b", "empty"])
        assert stats["a"] == {
            JobState.QUEUED: 1,
            JobState.SCHEDULED: 1,
            JobState.RUNNING: 1,
            JobState.SUCCEEDED: 1,
            JobState.FAILED: 0,
            JobState.CANCELLED: 0,
        }
        assert stats["b"][JobState.QUEUED] == 1
        assert sum(stats["empty"].values()) == 0
        everything = await backend.stats()
        assert {"a", "b"} <= set(everything)

    async def test_purge_deletes_by_state_and_age(self, backend: Backend) -> None:
        done, failed, queued = new_job(), new_job(), new_job(queue="q2")
        await backend.enqueue([done, failed])
        await backend.claim(["default"], 2, WORKER, 30)
        await backend.finish(
            [
                Outcome(done.id, 1, OutcomeKind.SUCCEEDED, result=b"1"),
                Outcome(failed.id, 1, OutcomeKind.FAILED, error=b"{}"),
            ]
        )
        await backend.enqueue([queued])
        now = await backend.now()
        assert await backend.purge([JobState.SUCCEEDED], finished_before=now - 60) == 0
        assert await backend.purge([JobState.SUCCEEDED], finished_before=now + 1) == 1
        assert await backend.purge([JobState.QUEUED], queue="other") == 0
        assert await backend.purge([JobState.QUEUED, JobState.FAILED]) == 2
        assert await backend.get([done.id, failed.id, queued.id]) == [None, None, None]
        assert sum((await backend.stats(["default"]))["default"].values()) == 0

    # -- waiting for results -----------------------------------------------------------------

    async def test_wait_finished_returns_the_finished_record(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        record = await claim_one(backend)

        async def finish_soon() -> None:
            await anyio.sleep(0.05)
            await backend.finish(
                [Outcome(job.id, record.attempt, OutcomeKind.SUCCEEDED, result=b"42")]
            )

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(finish_soon)
                done = await backend.wait_finished(job.id, 60)
        assert done is not None and done.result == b"42"

    async def test_wait_finished_times_out_on_an_unfinished_job(self, backend: Backend) -> None:
        job = new_job()
        await backend.enqueue([job])
        assert await backend.wait_finished(job.id, 0.05) is None

    async def test_now_is_a_plausible_epoch_time(self, backend: Backend) -> None:
        import time

        assert abs(await backend.now() - time.time()) < 300
