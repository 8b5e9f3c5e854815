"""Faults inside one process: a partitioned worker's late completion, completions that fail
to write, a dropped LISTEN connection, and waits that do not poll."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import anyio
import asyncpg

from taskrunner import JobState, TaskRunner, current_job
from taskrunner.backend import Beat, JobRecord, LeaseStatus, Outcome, OutcomeKind
from taskrunner.errors import BackendError
from taskrunner.testing import new_job
from taskrunner_postgres import PostgresBackend, PostgresSettings
from tests.helpers import eventually

QUICK = {"lease": 0.6, "concurrency": 1, "scheduler": False, "poll": 0.5}


class PartitionedBackend(PostgresBackend):
    """Heartbeats never arrive, as if this worker were cut off from the database."""

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        raise BackendError("heartbeat: network unreachable")


class FlakyFinishBackend(PostgresBackend):
    """Outcomes fail to write until `healed` is set; everything else works."""

    healed = False

    async def finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not self.healed:
            raise BackendError("reporting outcomes: connection lost")
        return await super().finish(outcomes)


def runner_with(url: str, backend: PostgresBackend | None = None) -> TaskRunner:
    return TaskRunner(url, backend=backend) if backend else TaskRunner(url)


async def test_late_completion_of_a_rescued_attempt_is_rejected(pg_url: str) -> None:
    release = asyncio.Event()
    runs: list[int] = []

    async def work() -> str:
        runs.append(current_job().attempt)
        if current_job().attempt == 1:
            await release.wait()
            return "first"
        return "second"

    cut_off = runner_with(pg_url, PartitionedBackend(pg_url))
    healthy = runner_with(pg_url)
    task = cut_off.task(name="work", retries=2)(work)
    healthy.task(name="work", retries=2)(work)
    async with cut_off, healthy:
        job = await task.enqueue()
        async with cut_off.worker(**QUICK) as stale:
            await eventually(lambda: runs == [1])
            async with healthy.worker(**QUICK):
                assert await job.result(timeout=30) == "second"
            release.set()
            await eventually(lambda: stale.counters.rejected == 1)
        info = await job.info()
    assert (info.state, info.result, info.attempt, runs) == (
        JobState.SUCCEEDED,
        "second",
        2,
        [1, 2],
    )


async def test_completion_that_fails_to_write_is_retried_and_the_job_not_rerun(
    pg_url: str,
) -> None:
    runs: list[int] = []

    async def work() -> str:
        runs.append(current_job().attempt)
        return "done"

    flaky = FlakyFinishBackend(pg_url)
    owner, other = runner_with(pg_url, flaky), runner_with(pg_url)
    task = owner.task(name="work")(work)
    other.task(name="work")(work)
    settings = {**QUICK, "lease": 1.5}
    async with owner, other:
        job = await task.enqueue()
        async with owner.worker(**settings):
            await eventually(lambda: runs == [1])
            async with other.worker(**settings):  # it would take the job if it got loose
                (first,) = await flaky.get([job.id])
                assert first is not None and first.lease_until is not None
                # the unreported outcome's heartbeats renew the lease past its first end
                later = first.lease_until + 1
                await eventually(lambda: lease_renewed_past(flaky, job.id, later))
                flaky.healed = True
                assert await job.result(timeout=30) == "done"
    assert runs == [1]


async def lease_renewed_past(backend: PostgresBackend, job_id: str, when: float) -> bool:
    (record,) = await backend.get([job_id])
    assert record is not None and record.state is JobState.RUNNING, record
    return record.lease_until is not None and record.lease_until > when


async def test_listen_connection_is_reestablished(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    # polling every minute: only a NOTIFY can end the wait below in time
    waiter = PostgresBackend(pg_url, settings=PostgresSettings(poll=60))
    sender = PostgresBackend(pg_url)
    await waiter.connect()
    await sender.connect()
    try:
        await waiter.wait(["default"], 0.01)  # starts listening
        listener = waiter._listener
        assert listener.healthy
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            f"taskrunner-test-{schema}",
        )
        await eventually(lambda: not listener.healthy)
        await eventually(lambda: listener.healthy)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter.wait, ["default"], 60)
                await anyio.sleep(0.2)
                await sender.enqueue([new_job()])
    finally:
        await waiter.close()
        await sender.close()


class CountingBackend(PostgresBackend):
    reads = 0

    async def get(self, ids: Sequence[str]) -> list[JobRecord | None]:
        self.reads += 1
        return await super().get(ids)


async def test_wait_finished_listens_instead_of_polling(pg_url: str) -> None:
    backend = CountingBackend(pg_url)
    await backend.connect()
    try:
        job = new_job()
        await backend.enqueue([job])
        assert await backend.wait_finished(job.id, 1.0) is None
        assert backend.reads == 1  # one look after subscribing, then only the NOTIFY counts
        (record,) = await backend.claim(["default"], 1, "w", 30)

        async def finish_soon() -> None:
            await anyio.sleep(0.3)
            done = Outcome(job.id, record.attempt, OutcomeKind.SUCCEEDED, result=b"1")
            await backend.finish([done])

        backend.reads = 0
        async with anyio.create_task_group() as tg:
            tg.start_soon(finish_soon)
            done = await backend.wait_finished(job.id, 30)
        assert done is not None and done.result == b"1"
        assert backend.reads == 2
    finally:
        await backend.close()


async def test_cancel_requests_are_heard_again_after_the_listen_connection_drops(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    listening, sender = PostgresBackend(pg_url), PostgresBackend(pg_url)
    await listening.connect()
    await sender.connect()
    try:
        job = new_job()
        await sender.enqueue([job])
        await sender.claim(["default"], 1, "w-1", 30)
        async with listening.cancel_requests() as requests:
            listener = listening._listener
            assert listener.healthy
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1",
                f"taskrunner-test-{schema}",
            )
            await eventually(lambda: not listener.healthy)
            await eventually(lambda: listener.healthy)
            await sender.cancel([job.id], ttl=None)
            with anyio.fail_after(5):
                assert await anext(requests) == [job.id]
    finally:
        await listening.close()
        await sender.close()
