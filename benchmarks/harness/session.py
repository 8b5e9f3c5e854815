"""One benchmark session: check servers and libraries, then the rounds, alternating the
libraries within each round (their order rotates from round to round)."""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import limits
from harness.envs import EnvFailed, python_for
from harness.invoke import Outcome, run_adapter
from harness.libraries import BENCH_DIR, PEERS, TASKRUNNER, LibrarySpec
from harness.namespaces import Servers
from harness.phases import phase_sizes, phases, sizes
from harness.plan import Workload

DEFAULT_TIMEOUT = 600.0


@dataclass(frozen=True)
class Options:
    backend: str
    workloads: tuple[Workload, ...]
    rounds: int
    quick: bool
    only_taskrunner: bool
    peers: tuple[str, ...] | None = None
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)
    servers: Servers = field(default_factory=Servers)


@dataclass
class Results:
    """Every outcome of a session, by (workload, phase, library)."""

    options: Options
    libraries: list[LibrarySpec] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    outcomes: defaultdict[tuple[str, str, str], list[Outcome]] = field(
        default_factory=lambda: defaultdict(list)
    )
    started: float = field(default_factory=time.time)
    limits: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """The machine's limits (`harness.limits`), one figure per round."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_session(options: Options, log_dir: Path) -> Results:
    results = Results(options)
    if options.backend != "memory":
        options.servers.check(options.backend)
    pythons: dict[str, Path] = {}
    for lib in candidates(options):
        why = _prepare(lib, options, log_dir, pythons)
        if why is None:
            results.libraries.append(lib)
        else:
            results.skipped[lib.name] = why
            say(f"{lib.name}: {why} (skipped)")
    for round_index in range(options.rounds):
        measured = limits.measure(
            options.backend,
            options.servers,
            options.quick,
            python_for(TASKRUNNER),
            log_dir / f"r{round_index + 1}-limits.log",
        )
        for key, value in measured.items():
            results.limits[key].append(value)
            say(f"round {round_index + 1}/{options.rounds} · limit · {key}: {value:,.1f}")
        order = _rotate(results.libraries, round_index)
        for workload in options.workloads:
            for lib in order:
                sized = sizes(workload, options.quick, options.sizes)
                for phase in phases(workload, sized):
                    if not runs(lib, workload, phase, options.backend):
                        continue
                    outcome = _bench(lib, workload, phase, round_index, options, log_dir, pythons)
                    results.outcomes[(workload.name, phase, lib.name)].append(outcome)
                    _report_progress(round_index, options.rounds, workload, phase, lib, outcome)
    return results


def candidates(options: Options) -> list[LibrarySpec]:
    """taskrunner, and the peers that run one of the chosen workloads on the backend."""
    chosen = [TASKRUNNER]
    if options.only_taskrunner or all(w.taskrunner_only for w in options.workloads):
        return chosen
    return chosen + [
        peer
        for peer in PEERS
        if any(peer.runs(w.name, options.backend) for w in options.workloads)
        and (options.peers is None or peer.name in options.peers)
    ]


def runs(lib: LibrarySpec, workload: Workload, phase: str, backend: str) -> bool:
    """Whether the library runs this phase of the workload on the backend: taskrunner runs
    every one, a peer those its adapter covers there and the workload lets peers run."""
    if lib is TASKRUNNER:
        return True
    return workload.peers_run(phase) and lib.runs(workload.name, backend)


def _prepare(
    lib: LibrarySpec, options: Options, log_dir: Path, pythons: dict[str, Path]
) -> str | None:
    try:
        python = python_for(lib)
    except EnvFailed as error:
        return str(error)
    pythons[lib.name] = python
    spec = _spec(lib, options, "check", {}, "")
    outcome = run_adapter(
        python, lib.script, "check", spec, log_dir / f"check-{lib.name}.log", 120.0
    )
    if outcome.status == "skip":
        return outcome.message
    if outcome.status == "error":
        return f"adapter check failed: {outcome.message}"
    return None


def _bench(
    lib: LibrarySpec,
    workload: Workload,
    phase: str,
    round_index: int,
    options: Options,
    log_dir: Path,
    pythons: dict[str, Path],
) -> Outcome:
    sized = phase_sizes(workload, sizes(workload, options.quick, options.sizes), phase)
    spec = _spec(lib, options, workload.name, sized, phase)
    label = f"{workload.name}{'-' + phase if phase else ''}"
    log = log_dir / f"r{round_index + 1}-{label}-{lib.name}.log"
    options.servers.reset(options.backend, lib)
    try:
        return run_adapter(
            pythons[lib.name], lib.script, "bench", spec, log, spec.get("timeout", DEFAULT_TIMEOUT)
        )
    finally:
        options.servers.drop(options.backend, lib)


def _spec(
    lib: LibrarySpec, options: Options, workload: str, sizes: dict[str, Any], phase: str
) -> dict[str, Any]:
    return {
        "workload": workload,
        "backend": options.backend,
        "url": options.servers.url(options.backend, lib),
        "phase": phase,
        **sizes,
    }


def _rotate(libs: list[LibrarySpec], shift: int) -> list[LibrarySpec]:
    if not libs:
        return []
    shift %= len(libs)
    return libs[shift:] + libs[:shift]


def _report_progress(
    round_index: int,
    rounds: int,
    workload: Workload,
    phase: str,
    lib: LibrarySpec,
    outcome: Outcome,
) -> None:
    what = f"{workload.name}{' ' + phase if phase else ''}"
    if outcome.status == "ok":
        shown = ", ".join(f"{key} {value:,.1f}" for key, value in outcome.figures.items())
    else:
        shown = f"{outcome.status}: {outcome.message}"
    say(f"round {round_index + 1}/{rounds} · {what} · {lib.name}: {shown}")


def default_log_dir(backend: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return BENCH_DIR / "results" / f"{backend}-{stamp}"
