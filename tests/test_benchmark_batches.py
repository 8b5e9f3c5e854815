"""The batch benchmarks' arithmetic: how the members' and the callback's stamps become the
callback's delay, how the two drains become a ratio row, and what `--only batches` names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks" / "adapters"))

from harness.invoke import Outcome
from harness.plan import DEFAULT_WORKLOADS, workload, workloads
from harness.report import footnotes, table
from harness.session import Options, Results
from kit.batches import CALLBACK_SEQ, callback_figures
from kit.workers import WorkerFailed


def test_the_delay_runs_from_the_member_that_ended_last_whatever_its_seq() -> None:
    stamps = {seq: 100.0 + seq / 1000 for seq in range(1000)}
    stamps[3] = 102.0  # an early member that ended last
    stamps[CALLBACK_SEQ] = 102.25

    figures = callback_figures(stamps, members=1000)

    assert figures["ms"] == pytest.approx(250.0)


def test_a_callback_before_a_member_ended_fails_the_run() -> None:
    stamps = {0: 10.0, 1: 10.5, CALLBACK_SEQ: 10.2}

    with pytest.raises(WorkerFailed, match="before a member ended"):
        callback_figures(stamps, members=2)


@pytest.mark.parametrize("gone", [1, CALLBACK_SEQ])
def test_a_job_that_never_ran_fails_the_run(gone: int) -> None:
    stamps = {0: 10.0, 1: 10.5, CALLBACK_SEQ: 11.0}
    del stamps[gone]

    with pytest.raises(WorkerFailed, match="never ran"):
        callback_figures(stamps, members=2)


def test_batches_names_the_two_batch_workloads_once_and_both_run_by_default() -> None:
    names = [w.name for w in workloads("batch, batches, batch-drain")]

    assert names == ["batch", "batch-callback", "batch-drain"]
    assert {"batch-callback", "batch-drain"} <= set(DEFAULT_WORKLOADS)
    assert all(workload(name).taskrunner_only for name in names[1:])


def _session(*names: str) -> Results:
    chosen = tuple(workload(name) for name in names)
    return Results(
        Options(backend="redis", workloads=chosen, rounds=3, quick=False, only_taskrunner=True)
    )


def test_the_drain_ratio_row_is_batched_over_plain_round_by_round() -> None:
    results = _session("batch-drain")
    plain = [Outcome("ok", {"rate": rate}) for rate in (8000.0, 10_000.0, 4000.0)]
    batched = [Outcome("ok", {"rate": rate}) for rate in (7200.0, 7000.0, 4400.0)]
    results.outcomes[("batch-drain", "plain", "taskrunner")] = plain
    results.outcomes[("batch-drain", "batched", "taskrunner")] = batched

    rows = table(results).splitlines()

    assert rows[-1].endswith("batched / plain, jobs/s (target >= 0.8x) | 0.90x (0.70-1.10) |")
    assert "20,000 noop jobs, concurrency 50, members of one batch (jobs/s) | 7,000" in rows[-2]


def test_a_backend_without_batches_reads_na_with_its_reason() -> None:
    results = _session("batch-callback", "limit-drain")
    why = "taskrunner-jobs-postgres keeps no batches yet"
    results.outcomes[("batch-callback", "", "taskrunner")] = [Outcome("na", message=why)] * 3

    rows = table(results).splitlines()
    notes = footnotes(results)

    assert rows[2].startswith("| 11. a batch of 10,000 noop jobs") and rows[2].endswith("| n/a |")
    assert f"taskrunner batch-callback: na: {why}" in notes
    assert "- batch-callback: taskrunner only: " in notes and "no batch of jobs" in notes
    assert "- limit-drain: taskrunner only: " in notes and "per-key" in notes
