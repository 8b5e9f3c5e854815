"""What one workload runs in a session: its sizes, its phases with the sizes of each, and
its ratio rows. A workload runs its fixed phases, or, if it names a `series` field, one phase
per value of that field (`processes`: `workers` = 1, 2, 4), the field set to that value."""

from __future__ import annotations

from typing import Any

from harness.plan import Ratio, Workload


def sizes(workload: Workload, quick: bool, overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The workload's sizes: its full or quick ones, with the `--size` overrides."""
    chosen = {**(workload.quick if quick else workload.full)}
    chosen.update(overrides.get(workload.name, {}))
    return chosen


def series_values(workload: Workload, sized: dict[str, Any]) -> list[int]:
    """The values of the workload's series field (one value may be given alone)."""
    raw = sized[workload.series]
    return [int(value) for value in (raw if isinstance(raw, list) else [raw])]


def phases(workload: Workload, sized: dict[str, Any]) -> tuple[str, ...]:
    if not workload.series:
        return workload.phases
    return tuple(str(value) for value in series_values(workload, sized))


def phase_sizes(workload: Workload, sized: dict[str, Any], phase: str) -> dict[str, Any]:
    """The sizes one phase runs with: a series phase sets its field to its own value."""
    if not workload.series:
        return sized
    return {**sized, workload.series: int(phase)}


def ratios(workload: Workload, sized: dict[str, Any]) -> tuple[Ratio, ...]:
    """The workload's own ratio rows; for a series, each later phase over the first."""
    if not workload.series:
        return workload.ratios
    first, *later = phases(workload, sized)
    return tuple(Ratio("rate", each, first, "the ratio of their jobs/s") for each in later)


def ratio_sizes(workload: Workload, sized: dict[str, Any], ratio: Ratio) -> dict[str, Any]:
    """The sizes a ratio row's title shows: a series field shows `over / under`."""
    if not workload.series:
        return sized
    return {**sized, workload.series: f"{ratio.over} / {ratio.under}"}
