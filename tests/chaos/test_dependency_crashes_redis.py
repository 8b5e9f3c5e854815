"""A worker that dies at any step between a dependency's run and the judging of the jobs
waiting on it leaves that judging to another worker: every dependent runs exactly once,
after its dependencies' runs ended, and the dependents of a job that failed never run.

Per crash point: a fan (one root, ten dependents), a chain of five, and a root that fails
for good with dependents (one of which has a dependent of its own), on two queues: the
roots' and the dependents'. A worker armed with the point takes only the roots' queue, and
crashes at the first root that reaches it; a second, unarmed worker takes both and finishes
(its reclaim puts back the crashed worker's roots, its upkeep judges what the crash left
unjudged). So the dependents run only in the second worker, where a second release of one
would show as a second run.
"""

from __future__ import annotations

import dataclasses
import signal
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio
import asyncpg
import pytest

from taskrunner import JobState, TaskRunner
from taskrunner.backend import DEPENDENCY_FAILED, Dependencies
from taskrunner.backend.faults import EXIT_CODE
from taskrunner.task import PreparedJob
from tests.chaos.apps.ledger import make_runner
from tests.chaos.conftest import Ledger
from tests.chaos.test_batch_crashes import ran
from tests.procs import WorkerProcess

APP = "tests.chaos.apps.ledger:runner"
ROOTS, DEPENDENTS = "chaos-roots", "chaos-dependents"
FAN, CHAIN = 10, 5
pytestmark = pytest.mark.slow

# the worker's points that a root passes, and the points of the Redis backend's judging
WORKER_POINTS = ("after_handler", "before_complete", "after_complete")
REDIS_POINTS = ("before_dependents", "before_dependents_done")
SETTLE_GRACE = 1.0  # taskrunner_redis.settle.SETTLE_GRACE: upkeep leaves younger marks alone


@dataclasses.dataclass
class Jobs:
    """The ids of the test's jobs, and which jobs each waits on."""

    roots: list[str] = dataclasses.field(default_factory=list)  # succeed (after a crash)
    failing: str = ""  # the root that fails for good
    waits: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # runs
    doomed: dict[str, str] = dataclasses.field(default_factory=dict)  # -> who cancels it


@pytest.fixture
async def runner(backend_url: str) -> AsyncIterator[TaskRunner]:
    """The test's runner on the backend under test, if it keeps dependencies."""
    runner = make_runner(backend_url)
    if not isinstance(runner.backend, Dependencies):
        pytest.skip("this backend keeps no dependencies")
    yield runner
    await runner.close()


def after(prepared: PreparedJob[int], *ids: str) -> PreparedJob[int]:
    """The prepared job, waiting on the jobs `ids`."""
    return PreparedJob(prepared.task, dataclasses.replace(prepared.new, after=ids))


async def enqueue_work(runner: TaskRunner) -> Jobs:
    """Store the fan, the chain and the failing root with its dependents, each dependent
    after the jobs it waits on."""
    noted, work = runner.tasks["chaos.noted"], runner.tasks["chaos.work"]
    root, dependent = noted.options(queue=ROOTS), noted.options(queue=DEPENDENTS)
    jobs = Jobs()
    # the failing root has one attempt, which fails (or, lost to the crash, is given up
    # when claimed again)
    failing_root = work.options(queue=ROOTS, retries=0).prepare(-1, fail_first=True)
    fan, head, failing = await runner.enqueue_many(
        [root.prepare(0), root.prepare(100), failing_root]
    )
    jobs.roots, jobs.failing = [fan.id, head.id], failing.id
    for job in await runner.enqueue_many([after(dependent.prepare(n), fan.id) for n in range(FAN)]):
        jobs.waits[job.id] = [fan.id]
    previous = head.id
    for n in range(1, CHAIN):
        (job,) = await runner.enqueue_many([after(dependent.prepare(100 + n), previous)])
        jobs.waits[job.id], previous = [previous], job.id
    doomed = await runner.enqueue_many([after(dependent.prepare(-n), failing.id) for n in range(3)])
    (last,) = await runner.enqueue_many([after(dependent.prepare(-9), doomed[0].id)])
    jobs.doomed = {job.id: failing.id for job in doomed} | {last.id: doomed[0].id}
    return jobs


@pytest.mark.parametrize("point", WORKER_POINTS + REDIS_POINTS)
async def test_redis_a_crash_leaves_each_dependent_to_run_exactly_once(
    point: str, backend_url: str, runner: TaskRunner, ledger: Ledger,
    chaos_env: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    if not backend_url.startswith("redis"):
        pytest.skip("the Redis backend's test (Postgres: test_dependency_crashes_postgres.py)")
    jobs = await enqueue_work(runner)
    crashed = await crash_at_roots(point, chaos_env, tmp_path)
    rescuer = WorkerProcess(
        APP, "--lease", "1", "--queue", f"{ROOTS},{DEPENDENTS}", log_dir=tmp_path, env=chaos_env
    )
    try:
        await ran(ledger, jobs.waits)
        await cancelled(runner, jobs.doomed)
        # with the rescuer still up, give a second release of a dependent (a judging that
        # upkeep repeats) the time to run it, were there one
        await anyio.sleep(2 * SETTLE_GRACE)
        rescuer.signal(signal.SIGTERM)
        assert await rescuer.wait(30) == 0, rescuer.output()
    finally:
        rescuer.kill()
    await check_ledger(ledger, point, jobs, crashed, rescuer.pid)
    await check_states(runner, jobs)


async def crash_at_roots(point: str, env: dict[str, str], log_dir: Path) -> int:
    """Run a worker of the roots' queue armed with `point` until it crashes there; answers
    its pid."""
    env = {**env, "TASKRUNNER_CRASH_AT": point}
    crashing = WorkerProcess(APP, "--lease", "1", "--queue", ROOTS, log_dir=log_dir, env=env)
    try:
        assert await crashing.wait(60) == EXIT_CODE, crashing.output()
    finally:
        crashing.kill()
    assert f"crashing at {point}" in crashing.output()
    return crashing.pid


async def cancelled(runner: TaskRunner, ids: Iterable[str], timeout: float = 60.0) -> None:
    """Wait until every job of `ids` is cancelled."""
    with anyio.fail_after(timeout):
        while True:
            infos = await runner.get_jobs(list(ids))
            if all(i is not None and i.state is JobState.CANCELLED for i in infos):
                return
            await anyio.sleep(0.2)


async def check_ledger(ledger: Ledger, point: str, jobs: Jobs, crashed: int, rescuer: int) -> None:
    runs: defaultdict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in await ledger.rows():
        runs[row["job_id"]].append(row)
    assert not set(runs) & set(jobs.doomed), (point, "a dependent of a failed job ran")
    assert set(runs) <= {*jobs.roots, jobs.failing, *jobs.waits}, "a run of an unknown job"
    for root in jobs.roots:
        # at most one run in each worker: a second run is of an attempt the crashed worker
        # started and had not reported yet
        pids = sorted(r["pid"] for r in runs[root])
        assert pids in ([crashed], [rescuer], sorted([crashed, rescuer])), (point, root, pids)
        assert any(r["ended"] is not None for r in runs[root]), (point, root)
    for dependent, dependencies in jobs.waits.items():
        (run,) = runs[dependent]  # released once: one run, in the only worker taking it
        assert run["pid"] == rescuer and run["ended"] is not None, (point, dependent)
        ends = [r["ended"] for d in dependencies for r in runs[d] if r["ended"] is not None]
        assert ends and run["started"] >= max(ends), (point, dependent, "ran too early")


async def check_states(runner: TaskRunner, jobs: Jobs) -> None:
    infos = await runner.get_jobs([*jobs.roots, *jobs.waits])
    assert all(i is not None and i.state is JobState.SUCCEEDED for i in infos)
    (failing,) = await runner.get_jobs([jobs.failing])
    assert failing is not None and failing.state is JobState.FAILED
    for job_id, cause in jobs.doomed.items():
        info = await runner.get_job(job_id)
        assert info.error is not None and info.error.type == DEPENDENCY_FAILED
        assert cause in info.error.message
