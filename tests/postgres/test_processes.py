"""Real `taskrunner run` processes on Postgres: many jobs once each, SIGKILL and SIGTERM,
recurring ticks, lost connections, poison rows. Workers record every attempt they run in a
ledger table (see `tests/postgres/apps`)."""

from __future__ import annotations

import functools
import itertools
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import asyncpg
import pytest

from taskrunner import JobFailed, JobState, TaskRunner
from taskrunner.errors import JobError
from tests.helpers import eventually, finished, state_is
from tests.postgres.apps import LEDGER_TABLE
from tests.procs import (
    WorkerProcess,
    check_sigterm_drain,
    ledger_runner_for,
    started,
    stop,
    worker_processes,
)

pytestmark = pytest.mark.slow

LEDGER_APP = "tests.postgres.apps.ledger:runner"
RECURRING_APP = "tests.postgres.apps.recurring:runner"


@pytest.fixture
async def runner(pg_url: str, schema: str, admin: asyncpg.Connection) -> AsyncIterator[TaskRunner]:
    """A runner on the test schema with the ledger apps' task names, and the ledger table."""
    runner = ledger_runner_for(pg_url)
    await runner.connect()
    await admin.execute(LEDGER_TABLE.format(schema=f'"{schema}"'))
    try:
        yield runner
    finally:
        await runner.close()


@contextmanager
def workers(
    app: str, count: int, pg_url: str, tmp_path: Path, *args: str
) -> Iterator[list[WorkerProcess]]:
    with worker_processes(app, count, "--url", pg_url, *args, log_dir=tmp_path) as procs:
        yield procs


async def count_in(runner: TaskRunner, state: JobState) -> int:
    stats = await runner.stats()
    return sum(counts[state] for counts in stats.values())


async def ledger(admin: asyncpg.Connection, schema: str) -> list[asyncpg.Record]:
    return await admin.fetch(f'SELECT job_id::text, attempt, pid FROM "{schema}".ledger')


async def test_several_workers_run_5000_jobs_exactly_once(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, pg_url: str, tmp_path: Path
) -> None:
    record = runner.tasks["record"]
    with workers(LEDGER_APP, 3, pg_url, tmp_path, "--concurrency", "20") as procs:
        await started(procs)
        for start in range(0, 5000, 500):
            await runner.enqueue_many(record.prepare(n) for n in range(start, start + 500))
        await eventually(lambda: finished(runner, 5000), timeout=120)
        await stop(procs)
    rows = await ledger(admin, schema)
    assert len(rows) == 5000
    assert len({r["job_id"] for r in rows}) == 5000
    assert {r["attempt"] for r in rows} == {1}


async def test_sigkilled_worker_job_is_rescued_after_its_lease(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, pg_url: str, tmp_path: Path
) -> None:
    lease = ("--lease", "1.5", "--concurrency", "1")
    with workers(LEDGER_APP, 1, pg_url, tmp_path, *lease) as (doomed,):
        await started([doomed])
        job = await runner.tasks["slow"].enqueue(1.0)
        await eventually(lambda: state_is(runner, job.id, JobState.RUNNING))
        doomed.kill()
        with workers(LEDGER_APP, 1, pg_url, tmp_path, *lease) as (rescuer,):
            await started([rescuer])
            assert await job.result(timeout=60) == "slept"
            await stop([rescuer])
    info = await job.info()
    assert (info.attempt, info.max_attempts) == (2, 2)
    rows = await ledger(admin, schema)
    assert [(r["attempt"], r["pid"]) for r in rows] == [(2, rescuer.pid)]


async def test_a_job_its_own_worker_claims_again_runs_once_more_and_succeeds(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, pg_url: str, tmp_path: Path
) -> None:
    """A worker frozen past its lease (SIGSTOP) while another process puts its job back
    claims the job again once it thaws, while the first attempt still runs there: that
    attempt is stopped, and the job succeeds after one extra run (it used to loop until
    its attempts ran out)."""
    with workers(LEDGER_APP, 1, pg_url, tmp_path, "--lease", "2", "--concurrency", "2") as (
        worker,
    ):
        await started([worker])
        job = await runner.tasks["slow"].enqueue(9.0)
        await eventually(lambda: state_is(runner, job.id, JobState.RUNNING))
        worker.signal(signal.SIGSTOP)
        try:
            await anyio.sleep(4.5)  # the lease runs out (2 s: a late heartbeat under load keeps it)
            assert await runner.backend.reclaim() == [job.id]  # as another worker would
        finally:
            worker.signal(signal.SIGCONT)
        assert await job.result(timeout=60) == "slept"
        await stop([worker])
    info = await job.info()
    assert (info.state, info.attempt) == (JobState.SUCCEEDED, 2)
    rows = await ledger(admin, schema)
    assert [(r["attempt"], r["pid"]) for r in rows] == [(2, worker.pid)]


async def test_sigterm_lets_the_running_job_finish_and_takes_no_more(
    runner: TaskRunner, pg_url: str, tmp_path: Path
) -> None:
    with workers(LEDGER_APP, 1, pg_url, tmp_path, "--concurrency", "1") as (worker,):
        await check_sigterm_drain(runner, worker)


async def test_recurring_job_runs_once_per_tick_with_three_workers(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, pg_url: str, tmp_path: Path
) -> None:
    with workers(RECURRING_APP, 3, pg_url, tmp_path) as procs:
        await started(procs)
        await eventually(lambda: ran_at_least(admin, schema, 3), timeout=60)
        await stop(procs)
    rows = await ledger(admin, schema)
    assert len({r["job_id"] for r in rows}) == len(rows)  # no tick job ran twice
    keys = await admin.fetch(
        f'SELECT key FROM "{schema}".jobs WHERE id = ANY($1::uuid[]) ORDER BY run_at',
        [r["job_id"] for r in rows],
    )
    ticks = [float(k["key"].rsplit(":", 1)[1]) for k in keys]
    assert len(ticks) == len(rows)
    assert [b - a for a, b in itertools.pairwise(ticks)] == [1.0] * (len(ticks) - 1)


async def ran_at_least(admin: asyncpg.Connection, schema: str, count: int) -> bool:
    return int(await admin.fetchval(f'SELECT count(*) FROM "{schema}".ledger')) >= count


async def test_workers_ride_out_terminated_connections(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, pg_url: str, tmp_path: Path
) -> None:
    record = runner.tasks["record"]
    total = 3000
    args = ("--concurrency", "10", "--lease", "3")
    with workers(LEDGER_APP, 2, pg_url, tmp_path, *args) as procs:
        await started(procs)
        await runner.enqueue_many(record.prepare(n) for n in range(total))
        for done in (total // 5, total * 2 // 5, total * 3 // 5):
            await eventually(functools.partial(finished, runner, done), timeout=60)
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1",
                f"taskrunner-test-{schema}",
            )
            assert killed >= 2  # at least each worker's LISTEN connection
        await eventually(lambda: finished(runner, total), timeout=120)
        assert all(proc.proc.poll() is None for proc in procs)
        late = await record.enqueue(-1)  # the workers still take new work
        assert await late.result(timeout=30) == -1
        await stop(procs)
    assert await count_in(runner, JobState.SUCCEEDED) == total + 1
    rows = await ledger(admin, schema)
    runs = {(r["job_id"], r["attempt"]) for r in rows}
    assert len(runs) == len(rows)  # an attempt runs at most once
    assert len({r["job_id"] for r in rows}) == total + 1  # no job lost


async def test_poison_rows_fail_with_a_clear_error_and_the_worker_goes_on(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, pg_url: str, tmp_path: Path
) -> None:
    garbled, unknown = str(uuid.uuid4()), str(uuid.uuid4())
    await admin.execute(
        f'INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, payload) '
        "VALUES ($1, 'record', 'default', 'queued', now(), 3, 'not json'::bytea), "
        "($2, 'no.such.task', 'default', 'queued', now(), 3, '{\"args\":[]}'::bytea)",
        garbled,
        unknown,
    )
    with workers(LEDGER_APP, 1, pg_url, tmp_path) as (worker,):
        await started([worker])
        good = await runner.tasks["record"].enqueue(7)
        assert await good.result(timeout=30) == 7
        for job_id, kind, text in (
            (garbled, "UndecodablePayload", "not valid JSON"),
            (unknown, "UnknownTask", "no task named 'no.such.task'"),
        ):
            info = await runner.get_job(job_id)
            assert info.state is JobState.FAILED and info.attempt == 1
            assert isinstance(info.error, JobError)
            assert info.error.type == kind and text in info.error.message
        assert worker.proc.poll() is None
        await stop([worker])


async def test_a_cancel_reaches_a_running_job_in_a_worker_process_at_once(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, pg_url: str, tmp_path: Path
) -> None:
    # the worker renews its leases every 30 s: only the notified request stops the job sooner
    with workers(LEDGER_APP, 1, pg_url, tmp_path, "--lease", "90") as (worker,):
        await started([worker])
        await anyio.sleep(1.0)  # past the beat a worker makes as it starts
        job = await runner.tasks["slow"].enqueue(3600)
        await eventually(lambda: state_is(runner, job.id, JobState.RUNNING), timeout=30)
        assert await runner.cancel(job.id) is JobState.RUNNING
        with pytest.raises(JobFailed, match="cancelled"):
            await job.result(timeout=10)
        await stop([worker])
    assert await ledger(admin, schema) == []  # the attempt never completed


async def test_a_pause_survives_a_worker_restart(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, pg_url: str, tmp_path: Path
) -> None:
    await runner.pause("default")
    with workers(LEDGER_APP, 1, pg_url, tmp_path) as procs:
        await started(procs)
        job = await runner.tasks["record"].enqueue(1)
        await anyio.sleep(1.0)  # time enough for an idle worker to take a due job
        info = await runner.get_job(job.id)
        assert info.state is JobState.QUEUED and info.held_by is not None
        assert info.held_by.kind == "paused"
        await stop(procs)
    with workers(LEDGER_APP, 1, pg_url, tmp_path) as procs:
        await started(procs)
        await anyio.sleep(1.0)
        assert await state_is(runner, job.id, JobState.QUEUED)
        assert await ledger(admin, schema) == []
        await runner.resume("default")
        assert await job.result(timeout=30) == 1
        await stop(procs)
    assert [(r["job_id"], r["attempt"]) for r in await ledger(admin, schema)] == [(job.id, 1)]
