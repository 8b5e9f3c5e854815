"""The chaos soak: worker processes killed and restarted at random, the backend restarted or
its connections cut (on SQLite: its write lock held by another process), while thousands
of jobs run. Nothing may be lost.

Quick by default (CI). The long soak: CHAOS_JOBS=20000 CHAOS_SECONDS=300 (see the docs'
delivery-guarantees page). CHAOS_SEED replays a run.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread
import asyncpg
import pytest

from taskrunner import JobState, TaskRunner, TaskrunnerError
from tests.chaos.apps.ledger import make_runner
from tests.chaos.conftest import POSTGRES, Ledger
from tests.chaos.targets import Target
from tests.helpers import eventually, jobs_in_chunks
from tests.procs import WorkerProcess

APP = "tests.chaos.apps.ledger:runner"
WORKERS = 4
CONCURRENCY = 20
pytestmark = pytest.mark.slow


@dataclass
class Soak:
    """The running workers, what happened to them, and what the jobs went through."""

    env: dict[str, str]
    log_dir: Path
    workers: list[WorkerProcess] = field(default_factory=list)
    retired: list[WorkerProcess] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    attempts_seen: dict[str, int] = field(default_factory=dict)

    def start_worker(self) -> None:
        self.workers.append(
            WorkerProcess(
                APP,
                "--lease",
                "2",
                "--concurrency",
                str(CONCURRENCY),
                "--grace",
                "1",
                log_dir=self.log_dir,
                env=self.env,
            )
        )

    async def replace_worker(self, rng: random.Random, signum: int) -> None:
        victim = self.workers.pop(rng.randrange(len(self.workers)))
        victim.signal(signum)
        if signum == signal.SIGKILL:
            await victim.wait(30)
        self.retired.append(victim)
        self.start_worker()

    def stop_all(self) -> None:
        for proc in self.workers:
            proc.signal(signal.SIGTERM)


async def tolerant(work: Callable[[], Awaitable[None]]) -> None:
    """Run a check that may meet the backend mid-restart; a failure there is not the test's."""
    with contextlib.suppress(TaskrunnerError, OSError, asyncpg.PostgresError):
        await work()


async def test_chaos_soak_loses_nothing(target: Target, ledger: Ledger, tmp_path: Path) -> None:
    jobs_total = int(os.environ.get("CHAOS_JOBS", "3000"))
    fault_seconds = float(os.environ.get("CHAOS_SECONDS", "15"))
    seed = int(os.environ.get("CHAOS_SEED", str(secrets.randbelow(2**32))))
    rng = random.Random(seed)
    print(f"chaos soak: seed {seed}, {jobs_total} jobs, {fault_seconds}s of faults")

    runner: TaskRunner = make_runner(target.url)
    work = runner.tasks["chaos.work"]
    jobs = []
    for start in range(0, jobs_total, 1000):
        jobs += await runner.enqueue_many(
            work.prepare(i, fail_first=rng.random() < 0.05, sleep=rng.random() * 0.01)
            for i in range(start, min(start + 1000, jobs_total))
        )
    ids = [job.id for job in jobs]
    env = {
        "TASKRUNNER_URL": target.struck_url,
        "LEDGER_DSN": POSTGRES,
        "LEDGER_TABLE": ledger.table,
    }
    soak = Soak(env, tmp_path)
    for _ in range(WORKERS):
        soak.start_worker()

    async def sample_attempts() -> None:
        chosen = rng.sample(ids, min(200, len(ids)))
        for info in await runner.get_jobs(chosen):
            if info is not None:
                seen = soak.attempts_seen.get(info.id, 0)
                assert info.attempt >= seen, f"attempt of {info.id} went from {seen} down"
                soak.attempts_seen[info.id] = info.attempt

    try:
        deadline = time.monotonic() + fault_seconds
        while time.monotonic() < deadline:
            await anyio.sleep(rng.uniform(0.3, 1.5))
            kind = rng.choice(["kill", "kill", "term", "backend"])
            if kind == "kill":
                await soak.replace_worker(rng, signal.SIGKILL)
                soak.faults.append("SIGKILL a worker")
            elif kind == "term":
                await soak.replace_worker(rng, signal.SIGTERM)
                soak.faults.append("SIGTERM a worker")
            else:
                soak.faults.append(await target.disrupt())
            await tolerant(sample_attempts)

        async def all_finished() -> bool:
            try:
                stats = (await runner.stats())["default"]
            except TaskrunnerError:
                return False
            return stats[JobState.SUCCEEDED] + stats[JobState.FAILED] == jobs_total

        await eventually(all_finished, timeout=300)
        soak.stop_all()
        for proc in soak.workers:
            await proc.wait(60)
    finally:
        for proc in soak.workers + soak.retired:
            proc.kill()

    infos = await jobs_in_chunks(runner, ids)
    await runner.close()
    assert all(info is not None for info in infos)
    states = {info.state for info in infos if info is not None}
    assert states == {JobState.SUCCEEDED}, f"seed {seed}: {states}"
    assert all(info is not None and info.result == index for index, info in enumerate(infos)), (
        f"seed {seed}: a result is wrong"
    )
    for info in infos:
        assert info is not None and info.attempt >= soak.attempts_seen.get(info.id, 0)
    runs = await ledger.runs()
    assert set(runs) == set(ids), f"seed {seed}: some jobs never ran"
    # a job runs once, twice if its first attempt was asked to fail, and once more for each
    # fault that struck while it ran: no fault may cost more than the jobs it interrupted
    extra = sum(count - 1 for count in runs.values())
    asked_to_fail = sum(1 for info in infos if info is not None and info.error is not None)
    assert max(runs.values()) <= 2 + len(soak.faults), f"seed {seed}"
    assert extra <= asked_to_fail + len(soak.faults) * CONCURRENCY, (
        f"seed {seed}: {extra} extra runs for {len(soak.faults)} faults: {soak.faults}"
    )
