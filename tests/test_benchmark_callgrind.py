"""The callgrind drain benchmark's parts, without valgrind (the benchmark itself is on
demand: `uv run benchmarks/callgrind_drain.py`; no figure is asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import callgrind_drain as bench


async def test_the_drain_runs_every_stored_job_and_the_warm_up() -> None:
    assert await bench.drain(300) == 300 + bench.WARMUP_JOBS


def test_the_count_is_read_from_what_callgrind_writes() -> None:
    output = "==12== Events    : Ir\n==12== Collected : 438835814\n==12==\n==12== I   refs:"
    assert bench.collected(output) == 438_835_814
    with pytest.raises(RuntimeError):
        bench.collected("valgrind: no such tool")


def test_per_job_is_the_difference_of_two_drains() -> None:
    assert bench.per_job((5_000, 438_000_000), (20_000, 1_653_000_000)) == 81_000
