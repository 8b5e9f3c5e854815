"""A worker that dies at any step between a batch member's run and the batch's callbacks
leaves the callbacks to another worker, each stored (and so run) exactly once, after every
member succeeded; no member runs more often than the crash explains.

Per crash point: a batch of members with `on_success` and `on_complete` callbacks (each
run writes its start and end to the ledger; the callbacks keep no record once done, so a
second store of one would not be caught by its id, only by the batch); a worker armed with
the point works it and crashes there; a second, unarmed worker finishes the work (its
reclaim puts back the crashed worker's jobs, its upkeep settles what the crash left). The
test reads no batch until the callbacks ran: a read settles too, and would stand in for
the upkeep under test.
"""

from __future__ import annotations

import signal
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio
import asyncpg
import pytest

from taskrunner import JobState, TaskRunner
from taskrunner.backend import Batches
from taskrunner.backend.faults import EXIT_CODE
from tests.chaos.apps.ledger import make_runner
from tests.chaos.conftest import Ledger
from tests.procs import WorkerProcess

APP = "tests.chaos.apps.ledger:runner"
MEMBERS = 20
pytestmark = pytest.mark.slow

# the worker's points that a batch member passes, and the points of the Redis backend's
# settle (reached once a finish leaves a batch's part with no unfinished member). Postgres
# and SQLite settle a batch in the transaction of the finish that ends it: no step between.
WORKER_POINTS = ("after_handler", "before_complete", "after_complete")
SETTLE_POINTS = ("before_settle", "before_callback_flag")
POINTS = WORKER_POINTS + SETTLE_POINTS
SETTLE_GRACE = 1.0  # taskrunner_redis.settle.SETTLE_GRACE: upkeep leaves younger marks alone


@pytest.fixture
async def runner(backend_url: str, point: str) -> AsyncIterator[TaskRunner]:
    """The test's runner on the backend under test, if the point applies to it."""
    if point in SETTLE_POINTS and not backend_url.startswith("redis"):
        pytest.skip(f"{point} is a step of the Redis backend's settle")
    runner = make_runner(backend_url)
    if not isinstance(runner.backend, Batches):
        pytest.skip("this backend keeps no batches yet (Postgres: branch bd/pg)")
    yield runner
    await runner.close()


@pytest.mark.parametrize("point", POINTS)
async def test_a_crash_leaves_each_batch_callback_to_run_exactly_once(
    point: str, runner: TaskRunner, ledger: Ledger, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    noted, fleeting = runner.tasks["chaos.noted"], runner.tasks["chaos.fleeting"]
    batch = await runner.batch(
        [noted.prepare(n) for n in range(MEMBERS)],
        on_success=fleeting.prepare(-1),
        on_complete=fleeting.prepare(-2),
    )
    members = await batch.members()
    info = await batch.info()  # nothing is due yet: this read settles nothing
    assert info.on_success is not None and info.on_complete is not None
    callbacks = [info.on_success, info.on_complete]
    crashed = await crash_at(point, chaos_env, tmp_path)
    rescuer = WorkerProcess(APP, "--lease", "1", log_dir=tmp_path, env=chaos_env)
    try:
        await ran(ledger, callbacks)
        # with the rescuer still up, give a second store of a callback (a settle that
        # upkeep repeats, the first callback gone already) the time to run, were there one
        await anyio.sleep(2 * SETTLE_GRACE)
        rescuer.signal(signal.SIGTERM)
        assert await rescuer.wait(30) == 0, rescuer.output()
    finally:
        rescuer.kill()
    await check_ledger(ledger, point, members, callbacks, crashed, rescuer.pid)
    await check_batch(runner, batch.id, members)


async def crash_at(point: str, env: dict[str, str], log_dir: Path, *options: str) -> int:
    """Run a worker armed with `point` (and given these command line `options`) until it
    crashes there; answers its pid."""
    armed = {**env, "TASKRUNNER_CRASH_AT": point}
    crashing = WorkerProcess(APP, "--lease", "1", *options, log_dir=log_dir, env=armed)
    try:
        assert await crashing.wait(60) == EXIT_CODE, crashing.output()
    finally:
        crashing.kill()
    assert f"crashing at {point}" in crashing.output()
    return crashing.pid


async def ran(ledger: Ledger, ids: Iterable[str], timeout: float = 60.0) -> None:
    """Wait until the ledger shows a finished run of each job of `ids`."""
    wanted = set(ids)
    with anyio.fail_after(timeout):
        while True:
            if wanted <= {r["job_id"] for r in await ledger.rows() if r["ended"] is not None}:
                return
            await anyio.sleep(0.2)


async def check_ledger(
    ledger: Ledger, point: str, members: list[str], callbacks: list[str], crashed: int,
    rescuer: int,
) -> None:  # fmt: skip
    runs: defaultdict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in await ledger.rows():
        runs[row["job_id"]].append(row)
    assert set(runs) == {*members, *callbacks}, "a run of a job that is no member nor callback"
    for member in members:
        # at most one run in each worker: a second run is of an attempt the crashed worker
        # started and had not reported yet
        pids = sorted(r["pid"] for r in runs[member])
        assert pids in ([crashed], [rescuer], sorted([crashed, rescuer])), (point, member, pids)
        assert any(r["ended"] is not None for r in runs[member]), (point, member)
        if point in SETTLE_POINTS:  # every member's outcome was written before the crash
            assert pids == [crashed], (point, member, pids)
    last_end = max(r["ended"] for m in members for r in runs[m] if r["ended"] is not None)
    for callback in callbacks:
        assert len(runs[callback]) == 1, (point, callback, runs[callback])
        (run,) = runs[callback]
        assert run["pid"] == rescuer, (point, callback)
        assert run["started"] >= last_end, (point, "a callback ran before every member ended")


async def check_batch(runner: TaskRunner, batch_id: str, members: list[str]) -> None:
    infos = await runner.get_jobs(members)
    assert all(i is not None and i.state is JobState.SUCCEEDED for i in infos)
    assert sorted(i.result for i in infos if i is not None) == list(range(MEMBERS))
    info = await runner.get_batch(batch_id)
    assert info.ended and info.closed and info.total == MEMBERS
    assert info.counts.get(JobState.SUCCEEDED) == MEMBERS
    assert info.success_fired and info.complete_fired
