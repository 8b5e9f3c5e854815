"""The SQLite benchmark's workloads run end to end and leave every job they ran finished
(a smoke test: the figures themselves are for benchmarks/, never for an assertion)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import sqlite_backend as bench

from taskrunner.backend import JobState
from taskrunner_sqlite import SqliteBackend


async def test_the_enqueue_and_claim_workloads_store_and_finish_their_jobs(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}?synchronous=normal"
    for workload in (bench.single_enqueues(5), bench.per_statement_enqueues(5)):
        assert await bench.on_backend(url, workload) > 0
    assert await bench.on_backend(url, bench.claims(5)) > 0
    backend = SqliteBackend(url)
    await backend.connect()
    counts = (await backend.stats(["default"]))["default"]
    await backend.close()
    assert (counts[JobState.QUEUED], counts[JobState.SUCCEEDED]) == (10, 5)


async def test_pickups_measure_every_job_a_worker_process_took(tmp_path: Path) -> None:
    latencies = await bench.pickups(f"sqlite:///{tmp_path / 'jobs.db'}", 3)
    assert len(latencies) == 3 and all(ms >= 0 for ms in latencies)
