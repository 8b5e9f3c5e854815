"""The sync-app benchmark (workload 13): how its threads share the jobs, that a failing
thread fails the run rather than hanging it, how the two phases become a ratio row, and what
`--only sync` names."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks" / "adapters"))

from harness.invoke import Outcome
from harness.plan import DEFAULT_WORKLOADS, workload, workloads
from harness.report import footnotes, table
from harness.session import Options, Results
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
    assert workload("sync-enqueue").taskrunner_only


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
    assert "8 threads calling task.enqueue_sync (jobs/s) | 1,800 (800-2,000) |" in rows[-2]
    assert "memory://" in footnotes(results)  # which loop serves the threads, and why
