"""A worker that dies at any step of a job's life loses nothing: the job still finishes,
with at most one rerun."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from taskrunner import JobState
from taskrunner.backend.faults import EXIT_CODE, POINTS
from tests.chaos.apps.ledger import make_runner
from tests.chaos.conftest import Ledger
from tests.chaos.test_batch_crashes import SETTLE_POINTS
from tests.chaos.test_dependency_crashes import REDIS_POINTS
from tests.procs import WorkerProcess

APP = "tests.chaos.apps.ledger:runner"
pytestmark = pytest.mark.slow

# how many times the handler runs in all: the crashed worker's run (if it got that far)
# plus the rescuing worker's
RUNS = {
    "after_claim": 1,
    "after_handler": 2,
    "before_complete": 2,
    "after_complete": 1,
    "scheduling_retry": 2,
}


def test_every_crash_point_is_covered() -> None:
    """The points of a batch's settle are armed in test_batch_crashes.py, those of the
    judging of a job's dependents in test_dependency_crashes.py; a lone job never
    reaches them."""
    elsewhere = set(SETTLE_POINTS) | set(REDIS_POINTS)
    assert set(RUNS) | elsewhere == set(POINTS)
    assert not set(RUNS) & elsewhere and not set(SETTLE_POINTS) & set(REDIS_POINTS)


@pytest.mark.parametrize("point", RUNS)
async def test_a_crash_at_any_point_leaves_the_job_to_finish_elsewhere(
    point: str, backend_url: str, ledger: Ledger, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    runner = make_runner(backend_url)
    work = runner.tasks["chaos.work"]
    job = await work.enqueue(7, fail_first=point == "scheduling_retry")
    crashing = WorkerProcess(
        APP, "--lease", "1", log_dir=tmp_path, env={**chaos_env, "TASKRUNNER_CRASH_AT": point}
    )
    try:
        assert await crashing.wait(60) == EXIT_CODE, crashing.output()
    finally:
        crashing.kill()
    assert f"crashing at {point}" in crashing.output()
    rescuer = WorkerProcess(APP, "--lease", "1", log_dir=tmp_path, env=chaos_env)
    try:
        assert await job.result(timeout=60) == 7
        assert (await runner.get_job(job.id)).state is JobState.SUCCEEDED
        await rescuer.wait_for_output("started on")
        rescuer.signal(signal.SIGTERM)
        assert await rescuer.wait(30) == 0, rescuer.output()
    finally:
        rescuer.kill()
        await runner.close()
    runs = await ledger.runs()
    assert runs[job.id] == RUNS[point], (point, runs)


async def test_the_crash_switch_refuses_an_unknown_point(tmp_path: Path) -> None:
    proc = WorkerProcess(
        "tests.chaos.apps.ledger:runner",
        log_dir=tmp_path,
        env={"TASKRUNNER_CRASH_AT": "nowhere", "TASKRUNNER_URL": "memory://"},
    )
    try:
        assert await proc.wait(30) != 0
    finally:
        proc.kill()
    assert "is not one of" in proc.output()
