"""What can be run: the workloads and their sizes (the libraries: `harness.libraries`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One number a workload reports."""

    key: str
    label: str
    higher_is_better: bool = True


RATE = (Figure("rate", "jobs/s"),)


@dataclass(frozen=True)
class Ratio:
    """A row of one figure of phase `over` to that of phase `under`, round by round."""

    key: str
    over: str
    under: str
    label: str


@dataclass(frozen=True)
class Workload:
    """A workload as the orchestrator sees it: the spec fields for full and quick runs."""

    name: str
    title: str
    figures: tuple[Figure, ...]
    full: dict[str, Any]
    quick: dict[str, Any]
    on_demand: bool = False
    phases: tuple[str, ...] = ("",)
    phase_titles: dict[str, str] = field(default_factory=dict)
    ratios: tuple[Ratio, ...] = ()
    taskrunner_only: bool = False
    peer_phases: tuple[str, ...] | None = None
    """The phases the peers run too (None: all of them, unless `taskrunner_only`)."""
    series: str = ""
    """A size field holding a list: one phase per value (see `harness.phases`)."""

    def peers_run(self, phase: str) -> bool:
        """Whether the peers run this phase (beside taskrunner, which runs every one)."""
        if self.taskrunner_only:
            return False
        return self.peer_phases is None or phase in self.peer_phases


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "enqueue",
        "1. enqueue, one awaited call per job",
        RATE,
        full={"n": 5_000},
        quick={"n": 300},
    ),
    Workload(
        "concurrent",
        "1b. enqueue, 100 coroutines each awaiting one call at a time",
        RATE,
        full={"n": 10_000, "concurrency": 100},
        quick={"n": 500, "concurrency": 100},
    ),
    Workload(
        "batch",
        "2. enqueue, bulk API (1,000 jobs per call)",
        RATE,
        full={"n": 50_000, "batch_size": 1_000},
        quick={"n": 2_000, "batch_size": 500},
    ),
    Workload(
        "drain",
        "3. drain noop jobs, concurrency 50",
        RATE,
        full={"n": 20_000, "concurrency": 50, "task": "noop"},
        quick={"n": 1_000, "concurrency": 50, "task": "noop"},
    ),
    Workload(
        "drain-3",
        "3b. drain noop jobs, {workers} workers (processes) of concurrency {concurrency}",
        RATE,
        full={"n": 20_000, "concurrency": 50, "task": "noop", "workers": 3},
        quick={"n": 1_000, "concurrency": 50, "task": "noop", "workers": 3},
    ),
    Workload(
        "processes",
        "3c. drain {n:,} noop jobs, concurrency {concurrency} per worker process, processes: "
        "{workers}",
        RATE,
        full={"n": 100_000, "concurrency": 50, "task": "noop", "workers": [1, 2, 4]},
        quick={"n": 1_000, "concurrency": 50, "task": "noop", "workers": [1, 2]},
        on_demand=True,
        series="workers",
    ),
    Workload(
        "sleep",
        "4. drain 5 ms sleep jobs, concurrency 200",
        RATE,
        full={"n": 20_000, "concurrency": 200, "task": "sleep"},
        quick={"n": 1_000, "concurrency": 200, "task": "sleep"},
    ),
    Workload(
        "latency",
        "5. pickup latency, one job every 5 ms into an idle worker",
        (
            Figure("p50_ms", "p50 ms", higher_is_better=False),
            Figure("p99_ms", "p99 ms", higher_is_better=False),
        ),
        full={"n": 500, "interval": 0.005, "concurrency": 50},
        quick={"n": 50, "interval": 0.005, "concurrency": 50},
    ),
    Workload(
        "scale",
        "6. drain the first N noop jobs, concurrency 50",
        RATE,
        full={"n": 100_000, "backlog": 1_000_000, "concurrency": 50, "timeout": 3_600.0},
        quick={"n": 2_000, "backlog": 10_000, "concurrency": 50},
        on_demand=True,
        phases=("empty", "backlog"),
    ),
    Workload(
        "memory",
        "7. worker RSS after N noop jobs, concurrency 50",
        (),
        full={
            "checkpoints": [1_000, 100_000, 1_000_000],
            "batch_size": 10_000,
            "concurrency": 50,
            "timeout": 3_600.0,
        },
        quick={"checkpoints": [500, 5_000, 20_000], "batch_size": 2_000, "concurrency": 50},
        on_demand=True,
    ),
)

TASKRUNNER_ONLY = {
    "limits": "taskrunner only: arq, SAQ and taskiq have no per-key concurrency limit or rate "
    "limit (only each worker's own job count); procrastinate's `lock` runs one job per lock "
    "at a time (a limit of 1, no rate)",
    "batches": "taskrunner only: arq, SAQ, taskiq and procrastinate have no batch of jobs with "
    "a callback that runs once all of them have ended",
    "telemetry": "taskrunner only: it sets taskrunner's worker with outcome hooks and tracing "
    "against the same worker without them",
    "sync": "the async phase is taskrunner only (it sets taskrunner's blocking enqueue against "
    "its own async one); the sync phase runs every peer too, n/a for those with no blocking "
    "enqueue; on memory taskrunner's threads' calls run on the measuring process's running "
    "loop, as an async app's threads' do (a sync app cannot use memory://), elsewhere on the "
    "loop thread of a runner of their own, as a sync app's do",
}

FLOW_WORKLOADS = (
    Workload(
        "limit-drain",
        "8. drain {n:,} noop jobs, concurrency {concurrency}",
        RATE,
        full={"n": 20_000, "concurrency": 50},
        quick={"n": 2_000, "concurrency": 50},
        phases=("plain", "limited"),
        phase_titles={
            "plain": "no limit",
            "limited": "each with a Limit(1,000,000) over 100 keys, never reached",
        },
        ratios=(Ratio("rate", "limited", "plain", "limited / plain, jobs/s (target >= 0.8x)"),),
        taskrunner_only=True,
    ),
    Workload(
        "hot-key",
        "9. {n:,} jobs of other keys, concurrency {concurrency}",
        (
            Figure("ms", "ms, all stored before the worker starts", higher_is_better=False),
            Figure("ms_settled", "ms, stored while it runs", higher_is_better=False),
        ),
        full={"n": 1_000, "backlog": 10_000, "concurrency": 50},
        quick={"n": 1_000, "backlog": 10_000, "concurrency": 50},
        phases=("alone", "backlog"),
        phase_titles={
            "alone": "alone",
            "backlog": "behind {backlog:,} jobs of one key limited to 1",
        },
        ratios=(
            Ratio(
                "ms",
                "backlog",
                "alone",
                "behind the hot key / alone, all stored first (target <= 1.5x)",
            ),
            Ratio(
                "ms_settled",
                "backlog",
                "alone",
                "the same, stored while the worker runs (target <= 1.5x)",
            ),
        ),
        taskrunner_only=True,
    ),
    Workload(
        "rate-hold",
        "10. Rate({per_second}, per=1 s), {workers} workers, {duration:g} s",
        (
            Figure("rate", "starts/s over the run"),
            Figure("rate_error_pct", "error of that vs {per_second}/s, %", False),
            Figure("window_max", "most starts in any 1 s window", False),
            Figure("window_error_pct", "error of that vs {per_second}/s, %", False),
            Figure("busy_cpu_pct", "CPU per worker meanwhile, % of a core", False),
            Figure("idle_cpu_pct", "CPU of an idle worker on a closed window, % of a core", False),
        ),
        full={"workers": 4, "duration": 30.0, "idle": 10.0, "per_second": 100},
        quick={"workers": 4, "duration": 4.0, "idle": 2.0, "per_second": 100},
        taskrunner_only=True,
    ),
)

BATCH_WORKLOADS = (
    Workload(
        "batch-callback",
        "11. a batch of {n:,} noop jobs with an on_success callback, concurrency {concurrency}",
        (
            Figure(
                "ms",
                "ms from the last member's end to the callback's start, worker's clock; "
                "target <= 1,000",
                higher_is_better=False,
            ),
            Figure(
                "ms_backend",
                "ms from the batch's end to the callback's start, backend's clock",
                higher_is_better=False,
            ),
        ),
        full={"n": 10_000, "concurrency": 50, "timeout": 120.0},
        quick={"n": 2_000, "concurrency": 50, "timeout": 120.0},
        taskrunner_only=True,
    ),
    Workload(
        "batch-drain",
        "12. drain {n:,} noop jobs, concurrency {concurrency}",
        RATE,
        full={"n": 20_000, "concurrency": 50, "task": "noop"},
        quick={"n": 2_000, "concurrency": 50, "task": "noop"},
        phases=("plain", "batched"),
        phase_titles={"plain": "plain jobs", "batched": "members of one batch"},
        ratios=(Ratio("rate", "batched", "plain", "batched / plain, jobs/s (target >= 0.8x)"),),
        taskrunner_only=True,
    ),
)

SYNC_WORKLOADS = (
    Workload(
        "sync-enqueue",
        "13. enqueue {n:,} noop jobs, one call at a time per caller",
        RATE,
        full={"n": 5_000, "concurrency": 8},
        quick={"n": 400, "concurrency": 8},
        phases=("async", "sync"),
        phase_titles={
            "async": "one coroutine awaiting task.enqueue",
            "sync": "{concurrency} threads calling task.enqueue_sync (a peer: its blocking "
            "enqueue)",
        },
        ratios=(Ratio("rate", "sync", "async", "sync / async, jobs/s (target >= 0.8x)"),),
        peer_phases=("sync",),
    ),
)

TELEMETRY_WORKLOADS = (
    Workload(
        "telemetry-drain",
        "14. drain {n:,} noop jobs, concurrency {concurrency}",
        RATE,
        full={"n": 20_000, "concurrency": 50, "task": "noop"},
        quick={"n": 2_000, "concurrency": 50, "task": "noop"},
        phases=("plain", "hooked", "traced"),
        phase_titles={
            "plain": "no hook, no tracing",
            "hooked": "a runner-wide on_success hook",
            "traced": "that hook and a span per attempt (OpenTelemetry SDK, no exporter)",
        },
        ratios=(
            Ratio("rate", "hooked", "plain", "hooked / plain, jobs/s (target >= 0.8x)"),
            Ratio("rate", "traced", "plain", "traced / plain, jobs/s (target >= 0.7x)"),
        ),
        taskrunner_only=True,
    ),
)

WORKLOADS += FLOW_WORKLOADS + BATCH_WORKLOADS + SYNC_WORKLOADS + TELEMETRY_WORKLOADS

DEFAULT_WORKLOADS = tuple(w.name for w in WORKLOADS if not w.on_demand)
GROUPS = {
    "limits": tuple(w.name for w in FLOW_WORKLOADS),
    "batches": tuple(w.name for w in BATCH_WORKLOADS),
    "sync": tuple(w.name for w in SYNC_WORKLOADS),
    "telemetry": tuple(w.name for w in TELEMETRY_WORKLOADS),
}


def workloads(names: str) -> tuple[Workload, ...]:
    """The workloads a comma-separated list names (a group name stands for its workloads)."""
    picked: dict[str, Workload] = {}
    for name in (part.strip() for part in names.split(",")):
        for each in GROUPS.get(name, (name,) if name else ()):
            picked.setdefault(each, workload(each))
    return tuple(picked.values())


def workload(name: str) -> Workload:
    for candidate in WORKLOADS:
        if candidate.name == name:
            return candidate
    known = ", ".join([*(w.name for w in WORKLOADS), *GROUPS])
    raise ValueError(f"unknown workload {name!r} (known: {known})")


def memory_figures(checkpoints: list[int]) -> tuple[Figure, ...]:
    return tuple(
        Figure(f"rss_mib_at_{n}", f"MiB after {n:,} jobs", higher_is_better=False)
        for n in checkpoints
    )
