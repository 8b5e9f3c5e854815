"""The telemetry benchmark's plan: what `--only telemetry` names, and its ratio rows."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks" / "adapters"))

from harness.invoke import Outcome
from harness.plan import DEFAULT_WORKLOADS, workload, workloads
from harness.report import footnotes, table
from harness.session import Options, Results
from kit.telemetry import TELEMETRY, TELEMETRY_WORKLOADS


def test_telemetry_names_the_telemetry_drain_which_runs_by_default() -> None:
    assert [w.name for w in workloads("telemetry")] == [TELEMETRY]
    assert TELEMETRY in DEFAULT_WORKLOADS and TELEMETRY in TELEMETRY_WORKLOADS
    assert workload(TELEMETRY).taskrunner_only
    assert workload(TELEMETRY).phases == ("plain", "hooked", "traced")


def test_the_ratio_rows_set_each_phase_against_the_plain_drain_round_by_round() -> None:
    chosen = (workload(TELEMETRY),)
    results = Results(
        Options(backend="redis", workloads=chosen, rounds=2, quick=False, only_taskrunner=True)
    )
    rates = {"plain": (4000.0, 2000.0), "hooked": (3600.0, 1900.0), "traced": (2000.0, 1500.0)}
    for phase, pair in rates.items():
        results.outcomes[(TELEMETRY, phase, "taskrunner")] = [
            Outcome("ok", {"rate": rate}) for rate in pair
        ]

    rows = table(results).splitlines()

    assert rows[-2].endswith("hooked / plain, jobs/s (target >= 0.8x) | 0.93x (0.90-0.95) |")
    assert rows[-1].endswith("traced / plain, jobs/s (target >= 0.7x) | 0.62x (0.50-0.75) |")
    assert "outcome hooks and tracing" in footnotes(results)
