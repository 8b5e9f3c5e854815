"""Real `taskrunner run` processes sharing one Redis: exactly once, crashes, signals, ticks."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskrunner import JobFailed, JobState, Task, TaskRunner
from tests.helpers import eventually
from tests.procs import worker_processes
from tests.redis.apps.ledger import make_runner
from tests.redis.conftest import Ledger

APP = "tests.redis.apps.ledger:runner"
pytestmark = pytest.mark.slow


@pytest.fixture
async def runner(redis_url: str) -> AsyncIterator[TaskRunner]:
    runner = make_runner(redis_url)
    await runner.connect()
    yield runner
    await runner.close()


def record_task(runner: TaskRunner) -> Task[..., Any]:
    return runner.tasks["ledger.record"]


async def test_several_processes_run_each_job_exactly_once(
    runner: TaskRunner, ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    record = record_task(runner)
    jobs = await runner.enqueue_many(record.prepare(i) for i in range(5000))
    with worker_processes(APP, 3, "--concurrency", "50", log_dir=tmp_path, env=worker_env) as procs:

        async def all_recorded() -> bool:
            return await ledger.length() >= 5000

        await eventually(all_recorded, timeout=180)
        for proc in procs:
            proc.signal(signal.SIGTERM)
        codes = [await proc.wait(60) for proc in procs]
    assert codes == [0, 0, 0], [proc.output()[-2000:] for proc in procs]
    runs = Counter(entry.split(":")[0] for entry in await ledger.entries())
    assert set(runs) == {job.id for job in jobs}
    assert set(runs.values()) == {1}
    stats = (await runner.stats())["default"]
    assert stats[JobState.SUCCEEDED] == 5000
    assert stats[JobState.RUNNING] == stats[JobState.QUEUED] == 0


async def test_a_job_of_a_killed_worker_runs_again_after_its_lease(
    runner: TaskRunner, ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    job = await record_task(runner).enqueue(1, sleep=1.0)
    with worker_processes(APP, 1, "--lease", "1", log_dir=tmp_path, env=worker_env) as (doomed,):
        await eventually(ledger.started)
        doomed.signal(signal.SIGKILL)
        await doomed.wait()
    with worker_processes(APP, 1, "--lease", "1", log_dir=tmp_path, env=worker_env):
        assert await job.result(timeout=60) == 1
    info = await runner.get_job(job.id)
    assert info.attempt == 2
    assert await ledger.started() == [f"{job.id}:1", f"{job.id}:2"]
    assert await ledger.entries() == [f"{job.id}:2"]  # the killed attempt never finished


async def test_a_late_answer_from_a_rescued_attempt_is_refused(
    runner: TaskRunner, ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    job = await record_task(runner).enqueue(7, sleep=1.0)
    lease = ("--lease", "0.6")
    with worker_processes(APP, 1, *lease, log_dir=tmp_path, env=worker_env) as (frozen,):
        await eventually(ledger.started)
        frozen.signal(signal.SIGSTOP)  # alive but silent: its lease runs out
        with worker_processes(APP, 1, *lease, log_dir=tmp_path, env=worker_env):
            assert await job.result(timeout=60) == 7
        done = await runner.get_job(job.id)
        assert done.attempt == 2
        frozen.signal(signal.SIGCONT)
        await eventually(
            lambda: "rejected" in frozen.output() or " lost, attempt" in frozen.output(), timeout=30
        )
        frozen.signal(signal.SIGTERM)
        await frozen.wait(30)
    after = await runner.get_job(job.id)
    assert (after.state, after.attempt, after.result) == (JobState.SUCCEEDED, 2, 7)
    assert after.finished_at == done.finished_at


async def test_a_job_its_own_worker_claims_again_runs_once_more_and_succeeds(
    runner: TaskRunner, ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    """A worker frozen past its lease (SIGSTOP) while another process puts its job back
    claims the job again once it thaws, while the first attempt still runs there: that
    attempt is stopped, and the job succeeds after one extra run (it used to loop)."""
    job = await record_task(runner).enqueue(3, sleep=9.0)
    args = ("--lease", "2", "--concurrency", "2")
    with worker_processes(APP, 1, *args, log_dir=tmp_path, env=worker_env) as (worker,):
        await eventually(ledger.started)
        worker.signal(signal.SIGSTOP)
        try:
            await anyio.sleep(4.5)  # the lease runs out (2 s: a late heartbeat under load keeps it)
            assert await runner.backend.reclaim() == [job.id]  # as another worker would
        finally:
            worker.signal(signal.SIGCONT)
        assert await job.result(timeout=60) == 3
        worker.signal(signal.SIGTERM)
        assert await worker.wait(30) == 0, worker.output()
    info = await runner.get_job(job.id)
    assert (info.state, info.attempt) == (JobState.SUCCEEDED, 2)
    assert await ledger.started() == [f"{job.id}:1", f"{job.id}:2"]
    assert await ledger.entries() == [f"{job.id}:2"]  # the stale attempt was stopped


async def test_sigterm_drains_within_grace_and_puts_back_the_rest(
    runner: TaskRunner, ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    record = record_task(runner)
    quick = await record.enqueue(1, sleep=0.2)
    slow = await record.enqueue(2, sleep=2.0)
    args = ("--concurrency", "2", "--grace", "0.5")
    with worker_processes(APP, 1, *args, log_dir=tmp_path, env=worker_env) as (first,):

        async def both_started() -> bool:
            return len(await ledger.started()) == 2

        await eventually(both_started)
        first.signal(signal.SIGTERM)
        assert await first.wait(30) == 1  # 1: jobs had to be put back
    assert "putting back 1 jobs" in first.output()
    assert (await runner.get_job(quick.id)).state is JobState.SUCCEEDED
    put_back = await runner.get_job(slow.id)
    assert put_back.state is JobState.QUEUED
    assert (put_back.attempt, put_back.max_attempts) == (1, 7)
    with worker_processes(APP, 1, log_dir=tmp_path, env=worker_env) as (second,):
        assert await slow.result(timeout=60) == 2
        second.signal(signal.SIGTERM)
        assert await second.wait(30) == 0


async def test_a_recurring_job_runs_once_per_tick_with_three_processes(
    ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**worker_env, "WITH_TICKS": "1"}
    with worker_processes(APP, 3, log_dir=tmp_path, env=env) as procs:

        async def three_ticks() -> bool:
            return len(await ledger.ticks()) >= 3

        await eventually(three_ticks, timeout=60)
        for proc in procs:
            proc.signal(signal.SIGTERM)
        for proc in procs:
            await proc.wait(30)
    ticks = await ledger.ticks()
    assert len(ticks) == len(set(ticks)), ticks
    seconds = sorted(float(key.rsplit(":", 1)[1]) for key in ticks)
    assert seconds == [seconds[0] + i for i in range(len(seconds))]


async def test_a_cancel_reaches_a_running_job_in_a_worker_process_at_once(
    runner: TaskRunner, ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    # the worker renews its leases every 30 s: only the pushed request stops the job sooner
    with worker_processes(APP, 1, "--lease", "90", log_dir=tmp_path, env=worker_env) as (proc,):
        await proc.wait_for_output("started on")
        await anyio.sleep(1.0)  # past the beat a worker makes as it starts
        job = await record_task(runner).enqueue(1, sleep=3600)
        await eventually(ledger.started, timeout=30)
        assert await runner.cancel(job.id) is JobState.RUNNING
        with pytest.raises(JobFailed, match="cancelled"):
            await job.result(timeout=10)
        proc.signal(signal.SIGTERM)
        assert await proc.wait(30) == 0, proc.output()
    assert await ledger.entries() == []  # the attempt never completed


async def test_a_pause_survives_a_worker_restart(
    runner: TaskRunner, ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    await runner.pause("default")
    with worker_processes(APP, 1, log_dir=tmp_path, env=worker_env) as (first,):
        await first.wait_for_output("started on")
        job = await record_task(runner).enqueue(1)
        await anyio.sleep(1.0)  # time enough for an idle worker to take a due job
        info = await runner.get_job(job.id)
        assert info.state is JobState.QUEUED and info.held_by is not None
        assert info.held_by.kind == "paused"
        first.signal(signal.SIGTERM)
        assert await first.wait(30) == 0, first.output()[-2000:]
    with worker_processes(APP, 1, log_dir=tmp_path, env=worker_env) as (second,):
        await second.wait_for_output("started on")
        await anyio.sleep(1.0)
        assert (await runner.get_job(job.id)).state is JobState.QUEUED
        assert await ledger.started() == []
        await runner.resume("default")
        assert await job.result(timeout=30) == 1
        second.signal(signal.SIGTERM)
        assert await second.wait(30) == 0, second.output()[-2000:]
    assert await ledger.entries() == [f"{job.id}:1"]
