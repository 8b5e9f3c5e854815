"""Real processes on one SQLite file: `taskrunner run` workers and a web-like producer.
Workers record every attempt they run in a ledger file (see `tests/sqlite/apps`)."""

from __future__ import annotations

import collections
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from taskrunner import JobState, TaskRunner
from tests.helpers import eventually, finished
from tests.procs import (
    REPO,
    WorkerProcess,
    check_sigterm_drain,
    ledger_runner_for,
    started,
    stop,
    worker_processes,
)
from tests.sqlite.apps import create_ledger, ledger_rows

pytestmark = pytest.mark.slow

LEDGER_APP = "tests.sqlite.apps.ledger:runner"
RECURRING_APP = "tests.sqlite.apps.recurring:runner"


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    path = str(tmp_path / "ledger.db")
    create_ledger(path)
    return path


@pytest.fixture
async def runner(sqlite_url: str) -> AsyncIterator[TaskRunner]:
    """A runner on the test's file with the ledger apps' task names."""
    runner = ledger_runner_for(sqlite_url)
    await runner.connect()
    try:
        yield runner
    finally:
        await runner.close()


@contextmanager
def workers(
    app: str, count: int, url: str, ledger: str, tmp_path: Path, *args: str
) -> Iterator[list[WorkerProcess]]:
    env = {"LEDGER": ledger}
    with worker_processes(app, count, "--url", url, *args, log_dir=tmp_path, env=env) as procs:
        yield procs


async def produce(url: str, first: int, count: int) -> None:
    """Run the producer process to its end."""
    command = [sys.executable, "-m", "tests.sqlite.apps.producer", str(first), str(count)]
    env = {**os.environ, "TASKRUNNER_URL": url}
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=300)
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


async def test_three_workers_drain_a_producer_s_jobs_exactly_once(
    runner: TaskRunner, sqlite_url: str, ledger: str, tmp_path: Path
) -> None:
    """5,000 jobs (SQLITE_DRAIN_JOBS for more), enqueued one awaited call at a time by a
    producer process while three worker processes drain them: with no process killed, the
    ledger holds exactly one run of each job, its first attempt, and each result is its
    own."""
    total = int(os.environ.get("SQLITE_DRAIN_JOBS", "5000"))
    with workers(LEDGER_APP, 3, sqlite_url, ledger, tmp_path, "--concurrency", "20") as procs:
        await started(procs)
        await produce(sqlite_url, 0, total)
        await eventually(lambda: finished(runner, total), timeout=300)
        await stop(procs)
    rows = ledger_rows(ledger)
    assert len(rows) == total, f"{len(rows) - total:+} runs"
    assert len({job_id for job_id, _, _ in rows}) == total  # every job once, none twice
    assert {attempt for _, attempt, _ in rows} == {1}
    assert len({pid for _, _, pid in rows}) > 1, "one worker took every job"
    ids = [job_id for job_id, _, _ in rows]
    infos = [i for at in range(0, total, 500) for i in await runner.get_jobs(ids[at : at + 500])]
    assert all(info is not None and info.state is JobState.SUCCEEDED for info in infos)
    assert sorted(info.result for info in infos if info is not None) == list(range(total))


async def test_three_workers_and_a_producer_run_every_job_once_through_a_sigkill(
    runner: TaskRunner, sqlite_url: str, ledger: str, tmp_path: Path
) -> None:
    """A worker is SIGKILLed mid-drain: its jobs come back after their lease and run again
    elsewhere; no other job runs twice, and every job succeeds once."""
    total = 2000
    # a lease long enough that a live worker's heartbeat lands in time on a loaded machine
    # (a late one lets a live worker's job run again elsewhere: at-least-once, but not what
    # this test counts); the killed worker's jobs come back after it
    args = ("--concurrency", "10", "--lease", "8")
    with workers(LEDGER_APP, 3, sqlite_url, ledger, tmp_path, *args) as procs:
        await started(procs)
        async with anyio.create_task_group() as tg:
            tg.start_soon(produce, sqlite_url, 0, total // 2)
            tg.start_soon(produce, sqlite_url, total // 2, total // 2)
            await eventually(lambda: finished(runner, total // 4), timeout=120)
            doomed = procs[0]
            doomed.kill()
        with workers(LEDGER_APP, 1, sqlite_url, ledger, tmp_path, *args) as spare:
            await started(spare)  # a SIGTERM before its handlers are installed would kill it
            await eventually(lambda: finished(runner, total), timeout=180)
            await stop(procs[1:] + spare)
    stats = await runner.stats()
    assert stats["default"][JobState.SUCCEEDED] == total
    runs = collections.defaultdict(list)
    for job_id, attempt, pid in ledger_rows(ledger):
        runs[job_id].append((attempt, pid))
    assert len(runs) == total
    for job_runs in runs.values():
        attempts = [attempt for attempt, _ in job_runs]
        assert len(set(attempts)) == len(attempts)  # never one attempt twice
        if len(job_runs) > 1:  # ran again only because its worker was killed
            assert all(pid == doomed.pid for _, pid in sorted(job_runs)[:-1])


async def test_sigterm_lets_the_running_job_finish_and_takes_no_more(
    runner: TaskRunner, sqlite_url: str, ledger: str, tmp_path: Path
) -> None:
    with workers(LEDGER_APP, 1, sqlite_url, ledger, tmp_path, "--concurrency", "1") as (w,):
        await check_sigterm_drain(runner, w)


async def test_recurring_job_runs_once_per_tick_with_three_workers(
    runner: TaskRunner, sqlite_url: str, ledger: str, tmp_path: Path
) -> None:
    with workers(RECURRING_APP, 3, sqlite_url, ledger, tmp_path) as procs:
        await started(procs)
        await eventually(lambda: len(ledger_rows(ledger)) >= 3, timeout=60)
        await stop(procs)
    rows = ledger_rows(ledger)
    assert len({job_id for job_id, _, _ in rows}) == len(rows)  # no tick job ran twice
    infos = [await runner.get_job(job_id) for job_id, _, _ in rows]
    ticks = sorted(float(str(info.key).rsplit(":", 1)[1]) for info in infos)
    assert [b - a for a, b in itertools.pairwise(ticks)] == [1.0] * (len(ticks) - 1)
