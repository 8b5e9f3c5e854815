"""A worker that dies at any step of a dependency's life leaves its dependents to another
worker: each runs exactly once, after its dependencies succeeded, and the dependents of a
dependency that failed never run.

The jobs: a fan (A -> D1..D10) and a job waiting on all of its ends (D1..D10 -> J); a chain
of five whose head fails its first attempt and succeeds on its retry (C1 -> C2 -> ... ->
C5: a retry is no end); and a dependency that fails for good (F -> E1..E3), with a
dependent of one of its dependents (E1 -> G, cancelled in turn). Per crash point of the
worker (Postgres has none of its own: a dependency's end and the judging of its dependents
are one transaction), a worker armed with the point works them and crashes there; a second,
unarmed worker finishes (its reclaim puts back the crashed worker's jobs). Every run of a
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
from tests.chaos.test_crash_points import RUNS
from tests.procs import WorkerProcess

APP = "tests.chaos.apps.ledger:runner"
pytestmark = pytest.mark.slow
FAN = 10
CHAIN = 5


@dataclasses.dataclass
class Graph:
    """The jobs stored: each dependent's dependencies, the jobs that must succeed, and the
    jobs that must end cancelled with the dependency their error names and how it ended."""

    after: dict[str, tuple[str, ...]]
    succeeding: list[str]
    cancelled: dict[str, tuple[str, str]]


def changed(prepared: PreparedJob[Any], **fields: Any) -> PreparedJob[Any]:
    """`prepared` with these fields of its `NewJob` changed (`after`, ...)."""
    return dataclasses.replace(prepared, new=dataclasses.replace(prepared.new, **fields))


async def store_graph(runner: TaskRunner) -> Graph:
    """Enqueue the jobs, each dependency before its dependents."""
    noted, work = runner.tasks["chaos.noted"], runner.tasks["chaos.work"]
    head = noted.prepare(0)
    chain = [work.prepare(100, fail_first=True)]
    failing = changed(work.prepare(200, fail_first=True), max_attempts=1)  # fails for good
    await runner.enqueue_many([head, chain[0], failing])
    fan = [changed(noted.prepare(n), after=(head.new.id,)) for n in range(1, FAN + 1)]
    doomed = [changed(noted.prepare(300 + n), after=(failing.new.id,)) for n in range(3)]
    await runner.enqueue_many([*fan, *doomed])
    joined = changed(noted.prepare(500), after=tuple(p.new.id for p in fan))
    await runner.enqueue_many([joined])
    for n in range(1, CHAIN):
        chain.append(changed(noted.prepare(100 + n), after=(chain[-1].new.id,)))
        await runner.enqueue_many([chain[-1]])
    cascade = changed(noted.prepare(400), after=(doomed[0].new.id,))
    await runner.enqueue_many([cascade])
    cancelled = {p.new.id: (failing.new.id, "failed") for p in doomed}
    cancelled[cascade.new.id] = (doomed[0].new.id, "was cancelled")
    return Graph(
        after={p.new.id: p.new.after for p in [*fan, joined, *chain[1:], *doomed, cascade]},
        succeeding=[p.new.id for p in [head, *fan, joined, *chain]],
        cancelled=cancelled,
    )


@pytest.fixture
async def runner(backend_url: str) -> AsyncIterator[TaskRunner]:
    """The test's runner on the backend under test, if it keeps dependencies."""
    runner = make_runner(backend_url)
    if not isinstance(runner.backend, Dependencies):
        pytest.skip("this backend keeps no dependencies")
    yield runner
    await runner.close()


@pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("point", RUNS)  # the worker's crash points
async def test_postgres_a_crash_leaves_each_dependent_to_run_once_after_its_dependencies(
    point: str, runner: TaskRunner, ledger: Ledger, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    graph = await store_graph(runner)
    crashed = await crash_at(point, chaos_env, tmp_path)
    rescuer = WorkerProcess(APP, "--lease", "1", log_dir=tmp_path, env=chaos_env)
    try:
        noted = [job for job in graph.succeeding if job in graph.after]  # the dependents
        await ran(ledger, noted)
        await ended(runner, [*graph.succeeding, *graph.cancelled])
        await anyio.sleep(1.0)  # a second run of a dependent, were there one, shows by now
        rescuer.signal(signal.SIGTERM)
        assert await rescuer.wait(30) == 0, rescuer.output()
    finally:
        rescuer.kill()
    records = {r.id: r for r in await runner.backend.get(list(graph.after)) if r is not None}
    records.update((r.id, r) for r in await runner.backend.get(graph.succeeding) if r is not None)
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
    no dependent of the failed dependency ran."""
    runs: defaultdict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in await ledger.rows():
        runs[row["job_id"]].append(row)
    assert not set(runs) & set(graph.cancelled), (point, "a cancelled dependent ran")
    for dependent, dependencies in graph.after.items():
        if dependent in graph.cancelled:
            continue
        (run,) = runs[dependent]  # exactly once
        assert run["pid"] == rescuer and run["ended"] is not None, (point, dependent, run)
        for dependency in dependencies:
            before = runs[dependency]
            assert before and all(r["pid"] in (crashed, rescuer) for r in before), point
            last = max(r["ended"] if r["ended"] is not None else r["started"] for r in before)
            assert run["started"] >= last, (point, dependent, "ran before its dependency")


def check_records(graph: Graph, records: dict[str, JobRecord], point: str) -> None:
    """The jobs ended as they must; each dependent started after its dependencies finished
    (the server's clock); each cancelled one names the dependency that ended it."""
    for job in graph.succeeding:
        assert records[job].state is JobState.SUCCEEDED, (point, job, records[job].state)
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
