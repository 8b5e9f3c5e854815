"""The table: each figure as the median of the rounds with the min-max spread, and the
ratio taskrunner / best peer. Markdown, so docs/benchmarks.md can take it as printed."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.invoke import Outcome
from harness.libraries import LIBRARIES, TASKRUNNER
from harness.limits import ENQUEUE_BOUNDS, LABELS
from harness.phases import phase_sizes, phases, ratio_sizes, ratios, sizes
from harness.plan import (
    GROUPS,
    TASKRUNNER_ONLY,
    Figure,
    Ratio,
    Workload,
    memory_figures,
)
from harness.session import Results, runs


@dataclass(frozen=True)
class Summary:
    """One cell: the median and spread of the rounds that produced the figure."""

    median: float
    low: float
    high: float
    rounds: int
    failed: int


def summarize(outcomes: list[Outcome], key: str) -> Summary | str:
    values = [o.figures[key] for o in outcomes if o.status == "ok" and key in o.figures]
    failed = sum(o.status == "error" for o in outcomes)
    if values:
        return Summary(statistics.median(values), min(values), max(values), len(values), failed)
    statuses = {o.status for o in outcomes}
    if "na" in statuses:
        return "n/a"
    if "error" in statuses:
        return "error"
    return "—"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _cell(summary: Summary | str) -> str:
    if isinstance(summary, str):
        return summary
    text = _number(summary.median)
    if summary.rounds > 1:
        text += f" ({_number(summary.low)}-{_number(summary.high)})"
    if summary.failed:
        text += f" [{summary.failed} failed]"
    return text


def _ratio(figure: Figure, cells: dict[str, Summary | str]) -> str:
    ours = cells.get(TASKRUNNER.name)
    peers = {name: s for name, s in cells.items() if name != TASKRUNNER.name}
    measured = {name: s.median for name, s in peers.items() if isinstance(s, Summary)}
    if not isinstance(ours, Summary) or not measured:
        return "—"
    pick = max if figure.higher_is_better else min
    best = pick(measured, key=lambda name: measured[name])
    if measured[best] == 0:
        return "—"
    return f"{ours.median / measured[best]:.2f}x (vs {best})"


def _sizes(workload: Workload, results: Results) -> dict[str, Any]:
    return sizes(workload, results.options.quick, results.options.sizes)


def _figures(workload: Workload, results: Results) -> tuple[Figure, ...]:
    if workload.name != "memory":
        return workload.figures
    return memory_figures(list(_sizes(workload, results)["checkpoints"]))


def _row_title(workload: Workload, phase: str, label: str, results: Results) -> str:
    sized = phase_sizes(workload, _sizes(workload, results), phase)
    title = workload.title.format(**sized)
    if phase in workload.phase_titles:
        title += ", " + workload.phase_titles[phase].format(**sized)
    elif phase == "empty":
        title += ", nothing else stored"
    elif phase == "backlog":
        other = "finished" if results.options.backend == "postgres" else "delayed"
        title += f", {sized['backlog']:,} queued + {sized['backlog']:,} {other} stored"
    return f"{title} ({label.format(**sized)})"


def _ratio_row(workload: Workload, ratio: Ratio, results: Results, names: list[str]) -> list[str]:
    """A ratio of two phases for taskrunner: the median of the rounds' ratios."""
    runs = results.outcomes
    pairs = zip(
        runs.get((workload.name, ratio.over, TASKRUNNER.name), []),
        runs.get((workload.name, ratio.under, TASKRUNNER.name), []),
        strict=False,
    )
    values = [
        over.figures[ratio.key] / under.figures[ratio.key]
        for over, under in pairs
        if over.status == under.status == "ok" and under.figures.get(ratio.key)
    ]
    cell = "—"
    if values:
        cell = f"{statistics.median(values):.2f}x"
        if len(values) > 1:
            cell += f" ({min(values):.2f}-{max(values):.2f})"
    title = workload.title.format(**ratio_sizes(workload, _sizes(workload, results), ratio))
    row = [f"{title}: {ratio.label}", cell]
    row += ["n/a"] * (len(names) - 1)
    return row + (["—"] if len(names) > 1 else [])


def table(results: Results) -> str:
    names = [TASKRUNNER.name, *(lib.name for lib in results.libraries if lib is not TASKRUNNER)]
    names = list(dict.fromkeys(names))
    header = ["workload", *names]
    if len(names) > 1:
        header.append("taskrunner / best peer")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workload in results.options.workloads:
        sized = _sizes(workload, results)
        for phase in phases(workload, sized):
            for figure in _figures(workload, results):
                cells: dict[str, Summary | str] = {}
                for name in names:
                    if not runs(LIBRARIES[name], workload, phase, results.options.backend):
                        cells[name] = "n/a"
                        continue
                    if name in results.skipped:
                        why = results.skipped[name]
                        cells[name] = "not installed" if "not installed" in why else "skipped"
                        continue
                    outcomes = results.outcomes.get((workload.name, phase, name), [])
                    cells[name] = summarize(outcomes, figure.key)
                row = [_row_title(workload, phase, figure.label, results)]
                row += [_cell(cells[name]) for name in names]
                if len(names) > 1:
                    row.append(_ratio(figure, cells))
                lines.append("| " + " | ".join(row) + " |")
        for ratio in ratios(workload, sized):
            lines.append("| " + " | ".join(_ratio_row(workload, ratio, results, names)) + " |")
    return "\n".join(lines)


def footnotes(results: Results) -> str:
    lines = []
    rounds = results.options.rounds
    lines.append(
        f"Median of {rounds} round{'s' if rounds > 1 else ''}"
        + (" (min-max in brackets)" if rounds > 1 else "")
        + f"; backend {results.options.backend}; {machine()}."
    )
    lines += limit_lines(results)
    chosen = {w.name for w in results.options.workloads}
    for group, names in GROUPS.items():
        alone = [name for name in names if name in chosen]
        if alone:
            lines.append(f"- {', '.join(alone)}: {TASKRUNNER_ONLY[group]}.")
    for name, why in results.skipped.items():
        lines.append(f"- {name}: not run — {why}")
    for lib in results.libraries:
        note = lib.notes.get(results.options.backend)
        if note:
            lines.append(f"- {lib.name}: {note}")
    for (workload, phase, name), outcomes in sorted(results.outcomes.items()):
        for outcome in outcomes:
            if outcome.status in {"na", "error"}:
                what = f"{workload}{' ' + phase if phase else ''}"
                lines.append(f"- {name} {what}: {outcome.status}: {outcome.message}")
    return "\n".join(dict.fromkeys(lines))


def limit_lines(results: Results) -> list[str]:
    """The machine's limits measured in the session, and each library's single enqueue
    against the bound of one awaited call (a bare commit or round trip cannot be beaten)."""
    lines = []
    for key, values in results.limits.items():
        text = _number(statistics.median(values))
        if len(values) > 1:
            text += f" ({_number(min(values))}-{_number(max(values))})"
        lines.append(f"- the machine's limit: {LABELS[key]}: {text}.")
    for key in ENQUEUE_BOUNDS:
        bound = statistics.median(results.limits[key]) if results.limits.get(key) else 0.0
        if not bound:
            continue
        for (workload, _, name), outcomes in results.outcomes.items():
            enqueued = summarize(outcomes, "rate") if workload == "enqueue" else None
            if isinstance(enqueued, Summary):
                lines.append(
                    f"- {name}: one awaited enqueue at {enqueued.median / bound:.2f}x "
                    f"the {key.replace('_', ' ')}."
                )
    return lines


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def save(results: Results, path: Path) -> None:
    """Every raw outcome, for later reading; benchmarks/results/ is not committed."""
    data: dict[str, Any] = {
        "backend": results.options.backend,
        "rounds": results.options.rounds,
        "quick": results.options.quick,
        "machine": machine(),
        "started": results.started,
        "skipped": results.skipped,
        "limits": results.limits,
        "outcomes": [
            {"workload": w, "phase": p, "library": name, "runs": [o.__dict__ for o in runs]}
            for (w, p, name), runs in results.outcomes.items()
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
