"""The drain by 1, 2, 4 worker processes (workload 3c, on demand): one phase per value of its
`workers` field, each phase run with its own count, a ratio row of each over the first;
drain-3 keeps its name and its one phase (a real run: tests/test_benchmark_sqlite_harness.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from harness.invoke import Outcome
from harness.phases import phase_sizes, phases, ratios, sizes
from harness.plan import DEFAULT_WORKLOADS, workload
from harness.report import table
from harness.session import Options, Results

PROCESSES = workload("processes")


def test_each_value_of_the_series_is_a_phase_run_with_that_count() -> None:
    full = sizes(PROCESSES, quick=False, overrides={})
    assert phases(PROCESSES, full) == ("1", "2", "4")
    assert phase_sizes(PROCESSES, full, "4")["workers"] == 4
    assert [(r.over, r.under) for r in ratios(PROCESSES, full)] == [("2", "1"), ("4", "1")]
    one = sizes(PROCESSES, quick=False, overrides={"processes": {"workers": 3}})
    assert phases(PROCESSES, one) == ("3",) and ratios(PROCESSES, one) == ()
    assert "processes" not in DEFAULT_WORKLOADS  # on demand: it is long


def test_drain_3_keeps_its_name_and_its_one_phase() -> None:
    drain_3 = workload("drain-3")
    assert "drain-3" in DEFAULT_WORKLOADS
    for quick in (True, False):
        sized = sizes(drain_3, quick=quick, overrides={})
        assert phases(drain_3, sized) == ("",)
        assert phase_sizes(drain_3, sized, "")["workers"] == 3


def test_the_table_shows_each_count_and_its_ratio_to_one_process() -> None:
    results = Results(
        Options(
            backend="redis", workloads=(PROCESSES,), rounds=2, quick=False, only_taskrunner=True
        )
    )
    for count, rates in {
        "1": (1000.0, 2000.0),
        "2": (1500.0, 3000.0),
        "4": (900.0, 1000.0),
    }.items():
        outcomes = [Outcome("ok", {"rate": rate}) for rate in rates]
        results.outcomes[("processes", count, "taskrunner")] = outcomes

    rows = table(results).splitlines()[2:]

    assert [row.split(" | ")[1].rstrip(" |") for row in rows] == [
        "1,500 (1,000-2,000)",
        "2,250 (1,500-3,000)",
        "950 (900-1,000)",
        "1.50x (1.50-1.50)",
        "0.70x (0.50-0.90)",
    ]
    assert "processes: 4 (jobs/s)" in rows[2]
    assert "processes: 4 / 1: the ratio of their jobs/s" in rows[4]
