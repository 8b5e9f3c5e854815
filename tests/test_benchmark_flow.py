"""The flow-control benchmarks' arithmetic: how starts become a rate and a worst window, how
two phases become a ratio row, and what `--only limits` names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks" / "adapters"))

from harness.invoke import Outcome
from harness.plan import workload, workloads
from harness.report import table
from harness.session import Options, Results
from kit.flow import rate_figures
from kit.workers import WorkerFailed


def test_evenly_spaced_starts_give_the_rate_and_full_windows() -> None:
    starts = [i / 100 for i in range(500)]  # 100 a second for 5 s

    figures = rate_figures(starts, per_second=100, duration=5.0)

    assert figures["rate"] == pytest.approx(100.0)
    assert figures["window_max"] == 100
    assert figures["window_error_pct"] == 0.0
    assert figures["window_min"] >= 99


def test_bursts_are_judged_over_whole_groups_of_starts() -> None:
    """100 starts at once every 1.01 s: the rate is 100 / 1.01 wherever the run is cut, no
    window holds more than 100, and a window between two bursts can hold none."""
    starts = [k * 1.01 + i * 1e-5 for k in range(5) for i in range(100)]

    figures = rate_figures(starts, per_second=100, duration=5.0)

    assert figures["rate"] == pytest.approx(100 / 1.01, rel=1e-3)
    assert figures["rate_error_pct"] == pytest.approx(-0.99, abs=0.01)
    assert figures["window_max"] == 100
    assert figures["window_min"] == 0


def test_a_window_over_the_rate_is_reported() -> None:
    starts = [i / 150 for i in range(150)] + [1.5 + i / 100 for i in range(300)]

    figures = rate_figures(starts, per_second=100, duration=4.0)

    assert figures["window_max"] == 150
    assert figures["window_error_pct"] == pytest.approx(50.0)


def test_too_few_starts_fail_the_run() -> None:
    with pytest.raises(WorkerFailed):
        rate_figures([0.0, 0.5], per_second=100, duration=5.0)


def test_limits_names_the_three_flow_workloads_once() -> None:
    names = [w.name for w in workloads("drain, limits, hot-key")]

    assert names == ["drain", "limit-drain", "hot-key", "rate-hold"]
    with pytest.raises(ValueError, match="limits"):
        workloads("nope")


def test_the_ratio_row_is_the_median_of_the_rounds_ratios() -> None:
    chosen = workload("limit-drain")
    results = Results(
        Options(backend="memory", workloads=(chosen,), rounds=3, quick=True, only_taskrunner=True)
    )
    plain = [Outcome("ok", {"rate": rate}) for rate in (1000.0, 1000.0, 2000.0)]
    limited = [Outcome("ok", {"rate": rate}) for rate in (900.0, 500.0, 1900.0)]
    results.outcomes[("limit-drain", "plain", "taskrunner")] = plain
    results.outcomes[("limit-drain", "limited", "taskrunner")] = limited

    rows = table(results).splitlines()

    assert rows[-1].endswith("(target >= 0.8x) | 0.90x (0.50-0.95) |")
