"""Limits and rates hold across real worker processes (issue #14): four `taskrunner run`
workers share one Redis, Postgres or SQLite backend (the memory backend lives in one
process, so it has no place here); every run writes its key, its wall-clock start and end
and its pid to a ledger in Postgres, which is checked once the jobs are done.
"""

from __future__ import annotations

import signal
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import pytest

from taskrunner import Job, TaskRunner
from tests.chaos.apps.limited import API, PAIRS, SOLO, make_runner
from tests.chaos.conftest import Ledger
from tests.helpers import eventually
from tests.procs import WorkerProcess, worker_processes

APP = "tests.chaos.apps.limited:runner"
WORKERS = 4
CONCURRENCY = 4
pytestmark = pytest.mark.slow

# The backend judges a rate on its own clock when it claims a job, so the rate is judged on
# the backend's own start times (`JobInfo.started_at`, read at claim), exactly, bar their
# rounding on the way out. Not on the ledger's starts: a task begins some time after its
# claim (a round trip, a turn of the worker's event loop), and on a loaded machine that lag
# varies by more than any margin a window of the ledger could allow.
ROUNDING = 1e-3


class Run(NamedTuple):
    """One attempt's row in the ledger."""

    job_id: str
    key: str
    pid: int
    started: float
    ended: float | None


def runs_of(rows: Iterable[asyncpg.Record]) -> list[Run]:
    return [Run(r["job_id"], r["key"], r["pid"], r["started"], r["ended"]) for r in rows]


def peaks(runs: Iterable[Run], killed_at: float | None = None) -> dict[str, int]:
    """The most runs of each key at once: a sweep over their [started, ended) spans. A run
    that never ended (its worker was killed) counts as running until `killed_at`."""
    events: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for run in runs:
        ended = run.ended if run.ended is not None else killed_at
        assert ended is not None, f"{run} never ended, and no worker was killed"
        events[run.key] += [(run.started, 1), (ended, -1)]
    found = {}
    for key, moments in events.items():
        running = peak = 0
        for _, change in sorted(moments):  # at a tie, an end (-1) sorts before a start
            running += change
            peak = max(peak, running)
        found[key] = peak
    return found


def overlap_across_processes(runs: Sequence[Run]) -> bool:
    """Whether two runs of one key, in two processes, ever ran at once."""
    return any(
        a.key == b.key
        and a.pid != b.pid
        and a.started < (b.ended or 0)
        and b.started < (a.ended or 0)
        for i, a in enumerate(runs)
        for b in runs[i + 1 :]
    )


def most_in_window(starts: Iterable[float], width: float) -> int:
    """The most starts in any window [t, t + width), sliding t over every start."""
    ordered = sorted(starts)
    most, first = 0, 0
    for last, start in enumerate(ordered):
        while ordered[first] <= start - width:
            first += 1
        most = max(most, last - first + 1)
    return most


@asynccontextmanager
async def workers(
    env: dict[str, str], log_dir: Path, *args: str
) -> AsyncIterator[list[WorkerProcess]]:
    """Four worker processes, all started before the block runs; at its end the ones still
    alive are stopped with SIGTERM and must exit cleanly."""
    with worker_processes(
        APP,
        WORKERS,
        "--concurrency",
        str(CONCURRENCY),
        "--grace",
        "1",
        *args,
        log_dir=log_dir,
        env=env,
    ) as procs:
        for proc in procs:
            await proc.wait_for_output("started on")
        yield procs
        alive = [proc for proc in procs if proc.proc.poll() is None]
        for proc in alive:
            proc.signal(signal.SIGTERM)
        for proc in alive:
            assert await proc.wait(30) == 0, proc.output()


async def all_succeed(jobs: Sequence[Job[Any]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for job in jobs:
        await job.result(timeout=max(deadline - time.monotonic(), 0.1))


def ran_once_each(runs: Iterable[Run], jobs: Iterable[Job[Any]]) -> bool:
    return Counter(run.job_id for run in runs) == Counter(job.id for job in jobs)


@pytest.fixture
async def runner(backend_url: str) -> AsyncIterator[TaskRunner]:
    runner = make_runner(backend_url)
    yield runner
    await runner.close()


async def test_no_key_runs_above_its_limit_across_processes(
    runner: TaskRunner, ledger: Ledger, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    pair = runner.tasks["limited.pair"]
    keys = 5
    async with workers(chaos_env, tmp_path):
        jobs = await runner.enqueue_many(pair.prepare(i % keys, sleep=0.1) for i in range(200))
        await all_succeed(jobs)
    runs = runs_of(await ledger.rows())
    assert ran_once_each(runs, jobs), "a job did not run, or ran twice"
    found = peaks(runs)
    assert set(found) == {f"pair:{n}" for n in range(keys)}
    # never above the limit, and the limit was reached: the workers did compete for slots
    assert max(found.values()) == PAIRS.max, found
    assert overlap_across_processes(runs), "no key ran in two processes at once"


async def kill_a_slot_holder(procs: Sequence[WorkerProcess], ledger: Ledger) -> tuple[int, float]:
    """SIGKILL the worker running the most jobs, as soon as the ledger shows one running;
    answers its pid and a moment after its death."""
    pids = {proc.pid: proc for proc in procs}
    holding: Counter[int] = Counter()

    async def someone_holds() -> bool:
        holding.clear()
        holding.update(run.pid for run in runs_of(await ledger.rows()) if run.ended is None)
        return bool(holding)

    await eventually(someone_holds, timeout=30)
    pid = holding.most_common(1)[0][0]
    pids[pid].kill()  # SIGKILL, then waits for the process to be gone
    return pid, time.time()


async def test_a_killed_worker_s_slots_come_back_after_its_lease(
    runner: TaskRunner, ledger: Ledger, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    solo = runner.tasks["limited.solo"]
    keys = 3
    async with workers(chaos_env, tmp_path, "--lease", "2") as procs:
        jobs = await runner.enqueue_many(solo.prepare(i % keys, sleep=1.0) for i in range(9))
        victim, killed_at = await kill_a_slot_holder(procs, ledger)
        await all_succeed(jobs)
    runs = runs_of(await ledger.rows())
    cut_short = [run for run in runs if run.ended is None]
    assert cut_short, "the kill struck no running job"
    assert {run.pid for run in cut_short} == {victim}, cut_short
    by_job: dict[str, list[Run]] = defaultdict(list)
    for run in sorted(runs, key=lambda run: run.started):
        by_job[run.job_id].append(run)
    assert set(by_job) == {job.id for job in jobs}, "a job never ran"
    for job_id, attempts in by_job.items():
        # each job ends once; only an attempt of the killed worker, started before the kill,
        # may have come before (cut short, or ended but never reported)
        assert attempts[-1].ended is not None, attempts
        assert all(run.pid == victim and run.started < killed_at for run in attempts[:-1]), (
            job_id,
            attempts,
        )
    # a killed attempt holds its key until its lease expires: never two runs of a key at once
    assert max(peaks(runs, killed_at).values()) == SOLO.max


async def test_a_rate_holds_over_every_sliding_window_across_processes(
    runner: TaskRunner, ledger: Ledger, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    api = runner.tasks["limited.api"]
    total = 100
    async with workers(chaos_env, tmp_path):
        jobs = await runner.enqueue_many(api.prepare(i) for i in range(total))
        await all_succeed(jobs)
    runs = runs_of(await ledger.rows())
    assert ran_once_each(runs, jobs), "a job did not run, or ran twice"
    claimed = [
        info.started_at.timestamp()
        for info in await runner.get_jobs([job.id for job in jobs])
        if info is not None and info.started_at is not None
    ]
    assert len(claimed) == total
    assert most_in_window(claimed, API.seconds - ROUNDING) <= API.n
    # 20 starts a second: the 81st claim comes at least four windows after the first
    windows = (total / API.n - 1) * API.seconds
    assert max(claimed) - min(claimed) >= windows - ROUNDING
