"""The sync-app benchmark (workload 13): how its threads share the jobs, that a failing
thread fails the run rather than hanging it, how the two phases become a ratio row, what
`--only sync` names, and which peers run its sync phase beside taskrunner's (those with a
blocking enqueue, on the backends where they have one) and how the table sets them."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks" / "adapters"))

from harness.invoke import Outcome
from harness.libraries import LIBRARIES, TASKRUNNER
from harness.plan import DEFAULT_WORKLOADS, workload, workloads
from harness.report import footnotes, table
from harness.session import Options, Results, candidates, runs
from kit.protocol import Spec
from kit.sync import threads_enqueue


class FakeSyncSide:
    """The sync side of a library: records which thread enqueued which seq."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.seqs: Counter[int] = Counter()
        self.threads: set[int] = set()
        self.opened = self.closed = 0
        self._lock = threading.Lock()

    def open_sync(self) -> None:
        self.opened += 1

    def enqueue_sync(self, task: str, seq: int) -> None:
        assert task == "noop"
        if seq == self.fail_at:
            raise ConnectionError("the backend went away")
        with self._lock:
            self.seqs[seq] += 1
            self.threads.add(threading.get_ident())

    def close_sync(self) -> None:
        self.closed += 1


def test_the_threads_enqueue_every_job_once_after_their_warm_up() -> None:
    side = FakeSyncSide()
    spec = Spec(workload="sync-enqueue", backend="redis", url="", n=1001, concurrency=8)

    figures = threads_enqueue(side, spec)

    warmups = side.seqs.pop(-1)
    assert warmups >= 8  # each thread made a call before the clock started
    assert side.seqs == Counter(range(1001))
    assert len(side.threads) == 8 and threading.get_ident() not in side.threads
    assert (side.opened, side.closed) == (1, 1)
    assert figures["rate"] > 0 and figures["threads"] == 8


@pytest.mark.parametrize("fail_at", [-1, 500])  # in the warm-up, or while timed
def test_a_thread_that_fails_fails_the_run(fail_at: int) -> None:
    side = FakeSyncSide(fail_at=fail_at)
    spec = Spec(workload="sync-enqueue", backend="redis", url="", n=1000, concurrency=8)

    with pytest.raises(ConnectionError, match="went away"):
        threads_enqueue(side, spec)
    assert side.closed == 1


def test_sync_names_the_workload_which_runs_by_default() -> None:
    assert [w.name for w in workloads("sync")] == ["sync-enqueue"]
    assert "sync-enqueue" in DEFAULT_WORKLOADS


def _peers(backend: str, only: str) -> list[str]:
    options = Options(
        backend=backend, workloads=workloads(only), rounds=1, quick=True, only_taskrunner=False
    )
    return [lib.name for lib in candidates(options) if lib is not TASKRUNNER]


def test_the_peers_with_a_blocking_enqueue_join_the_workload_on_their_backends() -> None:
    # arq, SAQ and taskiq run it to answer n/a (their enqueue is a coroutine only); huey
    # and RQ join on Redis, huey on Postgres, for this workload alone
    assert _peers("redis", "sync") == ["arq", "saq", "taskiq", "huey", "rq"]
    assert _peers("postgres", "sync") == ["saq", "procrastinate", "huey"]
    assert _peers("sqlite", "sync") == ["huey"]
    assert _peers("memory", "sync") == []
    assert _peers("redis", "drain") == ["arq", "saq", "taskiq"]
    assert _peers("postgres", "drain") == ["saq", "procrastinate"]


@pytest.mark.parametrize("backend", ["redis", "postgres", "sqlite"])
def test_the_peers_run_only_the_sync_phase_and_only_where_their_adapter_reaches(
    backend: str,
) -> None:
    sync = workload("sync-enqueue")
    huey, rq = LIBRARIES["huey"], LIBRARIES["rq"]
    assert runs(TASKRUNNER, sync, "async", backend) and runs(TASKRUNNER, sync, "sync", backend)
    assert not runs(huey, sync, "async", backend)
    assert runs(huey, sync, "sync", backend)
    assert runs(rq, sync, "sync", backend) == (backend == "redis")
    assert runs(huey, workload("drain"), "", backend) == (backend == "sqlite")
    assert not runs(rq, workload("drain"), "", backend)


def test_the_sync_row_sets_taskrunner_against_the_best_peer_beside_the_ratio_row() -> None:
    chosen = (workload("sync-enqueue"),)
    results = Results(
        Options(backend="redis", workloads=chosen, rounds=2, quick=False, only_taskrunner=False)
    )
    results.libraries = [TASKRUNNER, LIBRARIES["saq"], LIBRARIES["huey"], LIBRARIES["rq"]]
    outcomes = results.outcomes
    outcomes[("sync-enqueue", "async", "taskrunner")] = [Outcome("ok", {"rate": 4000.0})] * 2
    outcomes[("sync-enqueue", "sync", "taskrunner")] = [Outcome("ok", {"rate": 6000.0})] * 2
    outcomes[("sync-enqueue", "sync", "saq")] = [Outcome("na", message="saq has no blocking")]
    outcomes[("sync-enqueue", "sync", "huey")] = [Outcome("ok", {"rate": 2000.0})] * 2
    outcomes[("sync-enqueue", "sync", "rq")] = [Outcome("ok", {"rate": 1500.0})] * 2

    rows = table(results).splitlines()

    assert rows[0] == "| workload | taskrunner | saq | huey | rq | taskrunner / best peer |"
    assert rows[-3].endswith("(jobs/s) | 4,000 (4,000-4,000) | n/a | n/a | n/a | — |")
    assert "task.enqueue_sync (a peer: its blocking enqueue) (jobs/s)" in rows[-2]
    cells = "| 6,000 (6,000-6,000) | n/a | 2,000 (2,000-2,000) | 1,500 (1,500-1,500) |"
    assert rows[-2].endswith(f"{cells} 3.00x (vs huey) |")
    assert rows[-1].endswith("(target >= 0.8x) | 1.50x (1.50-1.50) | n/a | n/a | n/a | — |")
    notes = footnotes(results)
    assert "- saq sync-enqueue sync: na: saq has no blocking" in notes
    assert "RedisHuey" in notes and "RQ, run for the blocking enqueue only" in notes


def test_the_ratio_row_is_sync_over_async_round_by_round() -> None:
    chosen = (workload("sync-enqueue"),)
    results = Results(
        Options(backend="postgres", workloads=chosen, rounds=3, quick=False, only_taskrunner=True)
    )
    asynced = [Outcome("ok", {"rate": rate}) for rate in (1000.0, 1200.0, 800.0)]
    synced = [Outcome("ok", {"rate": rate}) for rate in (2000.0, 1800.0, 800.0)]
    results.outcomes[("sync-enqueue", "async", "taskrunner")] = asynced
    results.outcomes[("sync-enqueue", "sync", "taskrunner")] = synced

    rows = table(results).splitlines()

    assert rows[-1].endswith("sync / async, jobs/s (target >= 0.8x) | 1.50x (1.00-2.00) |")
    assert "one coroutine awaiting task.enqueue (jobs/s) | 1,000 (800-1,200) |" in rows[-3]
    assert "8 threads calling task.enqueue_sync" in rows[-2]
    assert rows[-2].endswith("(jobs/s) | 1,800 (800-2,000) |")
    assert "memory://" in footnotes(results)  # which loop serves the threads, and why
