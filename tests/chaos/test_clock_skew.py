"""Workers whose clocks are 90 s off never start a delayed job early nor steal a live lease."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from taskrunner import JobState
from tests.chaos.apps.ledger import make_runner
from tests.chaos.conftest import Ledger
from tests.procs import worker_processes

APP = "tests.chaos.apps.skewed:runner"
pytestmark = pytest.mark.slow


async def test_skewed_workers_respect_due_times_and_leases(
    backend_url: str, ledger: Ledger, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    if backend_url.startswith("sqlite"):
        pytest.skip(
            "SQLite's processes share one machine and so one clock: its backend reads the "
            "time in each process, so a skew faked inside one process is no case it meets"
        )
    runner = make_runner(backend_url)
    work = runner.tasks["chaos.work"]
    delayed = [await work.options(delay=1.5).enqueue(i) for i in range(10)]
    # jobs that outlive their 1 s lease several times over: only heartbeats keep them
    long = [await work.enqueue(100 + i, sleep=2.5) for i in range(4)]
    lease = ("--lease", "1", "--concurrency", "20")
    fast = worker_processes(APP, 1, *lease, log_dir=tmp_path, env={**chaos_env, "CLOCK_SKEW": "90"})
    slow = worker_processes(
        APP, 1, *lease, log_dir=tmp_path, env={**chaos_env, "CLOCK_SKEW": "-90"}
    )
    with fast as procs_fast, slow as procs_slow:
        procs = procs_fast + procs_slow
        for job in delayed + long:
            await job.result(timeout=60)
        for proc in procs:
            await proc.wait_for_output("started on")
            proc.signal(signal.SIGTERM)
        codes = [await proc.wait(30) for proc in procs]
    assert codes == [0, 0], [p.output()[-3000:] for p in procs]
    infos = await runner.get_jobs([job.id for job in delayed + long])
    for info in infos:
        assert info is not None and info.state is JobState.SUCCEEDED
        assert info.started_at is not None and info.started_at >= info.run_at, info
        assert info.attempt == 1, f"{info.id} ran {info.attempt} times: a lease was stolen"
    for job in delayed:
        info = await runner.get_job(job.id)
        assert (info.run_at - info.enqueued_at).total_seconds() == pytest.approx(1.5, abs=0.01)
    runs = await ledger.runs()
    assert all(runs[job.id] == 1 for job in delayed + long), runs
    # a stolen lease would make the first attempt's worker stop it as lost (a "rejected"
    # outcome alone can be a completion sent again after its reply was lost, which is fine)
    stolen = [line for p in procs for line in p.output().splitlines() if " lost, attempt" in line]
    assert not stolen, stolen
    await runner.close()


def test_the_skew_is_real(tmp_path: Path) -> None:
    # the app really moves the worker's wall clock: a sanity check of the test's premise
    import subprocess
    import sys

    code = (
        "import time; before = time.time(); import tests.chaos.apps.skewed; "
        "print(time.time() - before)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"CLOCK_SKEW": "90", "TASKRUNNER_URL": "memory://", "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).parents[2],
        check=True,
    )
    # 90 s plus the import's own time, which on a loaded machine can pass half a second
    assert 90 <= float(out.stdout) < 100, out.stdout
