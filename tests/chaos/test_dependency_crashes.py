"""A worker that dies at any step of a dependency's life, or of the judging of the jobs
waiting on it, leaves its dependents to another worker: each runs exactly once, after its
dependencies succeeded, and the dependents of a dependency that failed never run. One body
for every backend that keeps dependencies.

The jobs, on two queues, the roots' and the dependents': a fan (A -> D1..D10) and a job
waiting on all of its ends (D1..D10 -> J); a chain of five whose head fails its first
attempt and succeeds on its retry (C1 -> C2 -> ... -> C5: a retry is no end); and a root
that fails for good (F -> E1..E3), with a dependent of one of its dependents (E1 -> G,
cancelled in turn). Per crash point, a worker armed with the point takes only the roots'
queue and crashes at the first root that reaches it; a second, unarmed worker takes both
and finishes (its reclaim puts back the crashed worker's roots; on Redis its upkeep judges
what the crash left unjudged). So the dependents run only in the second worker, where a
second release of one would show as a second run. The points: the worker's, on every
backend, and on Redis those of its judging of dependents (on Postgres and SQLite a
dependency's end and the judging of its dependents are one transaction). Every run of a
handler is in the ledger, with its wall-clock start and, for the noted jobs, its end.
"""

from __future__ import annotations

import dataclasses
import signal
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from taskrunner import PreparedJob, TaskRunner
from taskrunner.backend import DEPENDENCY_FAILED, Dependencies, JobRecord, JobState
from taskrunner.errors import JobError
from tests.chaos.apps.ledger import make_runner
from tests.chaos.conftest import Ledger
from tests.chaos.test_batch_crashes import crash_at, ran
from tests.procs import WorkerProcess

APP = "tests.chaos.apps.ledger:runner"
ROOTS, DEPENDENTS = "chaos-roots", "chaos-dependents"
FAN, CHAIN = 10, 5
pytestmark = pytest.mark.slow

# the worker's points, which the roots pass (the chain's head its retry's), and the Redis
# backend's points of its judging of a job's dependents
WORKER_POINTS = (
    "after_claim", "after_handler", "before_complete", "after_complete", "scheduling_retry",
)  # fmt: skip
REDIS_POINTS = ("before_dependents", "before_dependents_done")
SETTLE_GRACE = 1.0  # taskrunner_redis.settle.SETTLE_GRACE: upkeep leaves younger marks alone
CASES = [
    *[("redis", point) for point in (*WORKER_POINTS, *REDIS_POINTS)],
    *[(backend, point) for backend in ("postgres", "sqlite") for point in WORKER_POINTS],
]


@dataclasses.dataclass
class Graph:
    """The jobs stored: each dependent's dependencies, the jobs that must succeed, the root
    that fails for good, and the jobs that must end cancelled with the dependency their
    error names and how it ended."""

    after: dict[str, tuple[str, ...]]
    succeeding: list[str]
    failing: str
    cancelled: dict[str, tuple[str, str]]


@pytest.fixture
async def runner(backend_url: str) -> AsyncIterator[TaskRunner]:
    """The test's runner on the backend under test, if it keeps dependencies."""
    runner = make_runner(backend_url)
    if not isinstance(runner.backend, Dependencies):
        pytest.skip("this backend keeps no dependencies")
    yield runner
    await runner.close()


def changed(prepared: PreparedJob[Any], **fields: Any) -> PreparedJob[Any]:
    """`prepared` with these fields of its `NewJob` changed (`after`, ...)."""
    return dataclasses.replace(prepared, new=dataclasses.replace(prepared.new, **fields))


async def store_graph(runner: TaskRunner) -> Graph:
    """Enqueue the jobs, each dependency before its dependents."""
    noted, work = runner.tasks["chaos.noted"], runner.tasks["chaos.work"]
    root, dependent = noted.options(queue=ROOTS), noted.options(queue=DEPENDENTS)
    head = root.prepare(0)
    chain = [work.options(queue=ROOTS).prepare(100, fail_first=True)]
    # one attempt, which fails (or, lost to the crash, is given up when claimed again)
    failing = work.options(queue=ROOTS, retries=0).prepare(200, fail_first=True)
    await runner.enqueue_many([head, chain[0], failing])
    fan = [changed(dependent.prepare(n), after=(head.new.id,)) for n in range(1, FAN + 1)]
    doomed = [changed(dependent.prepare(300 + n), after=(failing.new.id,)) for n in range(3)]
    await runner.enqueue_many([*fan, *doomed])
    joined = changed(dependent.prepare(500), after=tuple(p.new.id for p in fan))
    await runner.enqueue_many([joined])
    for n in range(1, CHAIN):
        chain.append(changed(dependent.prepare(100 + n), after=(chain[-1].new.id,)))
        await runner.enqueue_many([chain[-1]])
    cascade = changed(dependent.prepare(400), after=(doomed[0].new.id,))
    await runner.enqueue_many([cascade])
    cancelled = {p.new.id: (failing.new.id, "failed") for p in doomed}
    cancelled[cascade.new.id] = (doomed[0].new.id, "was cancelled")
    return Graph(
        after={p.new.id: p.new.after for p in [*fan, joined, *chain[1:], *doomed, cascade]},
        succeeding=[p.new.id for p in [head, *fan, joined, *chain]],
        failing=failing.new.id,
        cancelled=cancelled,
    )


@pytest.mark.parametrize(("backend_url", "point"), CASES, indirect=["backend_url"])
async def test_a_crash_leaves_each_dependent_to_run_once_after_its_dependencies(
    point: str, runner: TaskRunner, ledger: Ledger, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    graph = await store_graph(runner)
    crashed = await crash_at(point, chaos_env, tmp_path, "--queue", ROOTS)  # the roots only
    rescuer = WorkerProcess(
        APP, "--lease", "1", "--queue", f"{ROOTS},{DEPENDENTS}", log_dir=tmp_path, env=chaos_env
    )
    try:
        noted = [job for job in graph.succeeding if job in graph.after]  # the dependents
        await ran(ledger, noted)
        await ended(runner, [*graph.succeeding, graph.failing, *graph.cancelled])
        # with the rescuer still up, give a second release of a dependent (a judging that
        # upkeep repeats) the time to run it, were there one
        await anyio.sleep(2 * SETTLE_GRACE)
        rescuer.signal(signal.SIGTERM)
        assert await rescuer.wait(30) == 0, rescuer.output()
    finally:
        rescuer.kill()
    ids = [*graph.after, *graph.succeeding, graph.failing]
    records = {r.id: r for r in await runner.backend.get(ids) if r is not None}
    await check_runs(ledger, graph, point, crashed, rescuer.pid)
    check_records(graph, records, point)


async def ended(runner: TaskRunner, ids: list[str], timeout: float = 60.0) -> None:
    """Wait until every job of `ids` has ended (read from the backend)."""
    with anyio.fail_after(timeout):
        while True:
            records = await runner.backend.get(ids)
            if all(r is not None and r.state.finished for r in records):
                return
            await anyio.sleep(0.2)


async def check_runs(ledger: Ledger, graph: Graph, point: str, crashed: int, rescuer: int) -> None:
    """Each dependent ran exactly once, in the rescuer, after the last run of each of its
    dependencies had ended (or, for the chain's head, whose runs record no end, started);
    no dependent of the failed root ran; every run was in one of the two workers."""
    runs: defaultdict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in await ledger.rows():
        runs[row["job_id"]].append(row)
    assert not set(runs) & set(graph.cancelled), (point, "a cancelled dependent ran")
    assert set(runs) <= {*graph.succeeding, graph.failing}, (point, "a run of an unknown job")
    assert all(r["pid"] in (crashed, rescuer) for rows in runs.values() for r in rows), point
    for dependent, dependencies in graph.after.items():
        if dependent in graph.cancelled:
            continue
        (run,) = runs[dependent]  # released once: one run, in the only worker taking it
        assert run["pid"] == rescuer and run["ended"] is not None, (point, dependent, run)
        for dependency in dependencies:
            before = runs[dependency]
            assert before, (point, dependency, "no run")
            last = max(r["ended"] if r["ended"] is not None else r["started"] for r in before)
            assert run["started"] >= last, (point, dependent, "ran before its dependency")


def check_records(graph: Graph, records: dict[str, JobRecord], point: str) -> None:
    """The jobs ended as they must; each dependent started after its dependencies finished
    (the server's clock); each cancelled one names the dependency that ended it."""
    for job in graph.succeeding:
        assert records[job].state is JobState.SUCCEEDED, (point, job, records[job].state)
    assert records[graph.failing].state is JobState.FAILED, point
    for dependent, dependencies in graph.after.items():
        if dependent in graph.cancelled:
            continue
        started = records[dependent].started_at
        assert started is not None
        for dependency in dependencies:
            finished = records[dependency].finished_at
            assert finished is not None and started >= finished, (point, dependent)
    for job, (dependency, how) in graph.cancelled.items():
        record = records[job]
        assert record.state is JobState.CANCELLED and record.attempt == 0, (point, job)
        assert record.error is not None
        error = JobError.decode(record.error)
        assert (error.type, error.message) == (
            DEPENDENCY_FAILED,
            f"its dependency {dependency} {how}",
        ), point
