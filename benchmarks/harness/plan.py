"""What can be run: the libraries, the workloads and their sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
ADAPTERS = BENCH_DIR / "adapters"

BACKENDS = ("memory", "redis", "postgres", "sqlite")


@dataclass(frozen=True)
class LibrarySpec:
    """One library: its adapter, its virtualenv (None: the project's own), where it may run
    and where its data lives, and what a reader must know to compare its figures."""

    name: str
    adapter: str
    env: str | None
    backends: frozenset[str]
    redis_db: int
    notes: dict[str, str] = field(default_factory=dict)
    partial: dict[str, frozenset[str]] = field(default_factory=dict)
    """Backends where the library runs only the workloads named (its adapter covers no more
    there), beside those of `backends`, where it runs them all."""

    def runs(self, workload: str, backend: str) -> bool:
        """Whether the library runs the workload on the backend."""
        return backend in self.backends or workload in self.partial.get(backend, frozenset())

    def serves(self, backend: str) -> bool:
        """Whether the library runs any workload on the backend."""
        return backend in self.backends or backend in self.partial

    @property
    def script(self) -> Path:
        return ADAPTERS / self.adapter

    @property
    def postgres_database(self) -> str:
        return f"bench_{self.name}"

    @property
    def sqlite_file(self) -> str:
        return f"bench_{self.name}.db"


TASKRUNNER = LibrarySpec(
    name="taskrunner",
    adapter="taskrunner_adapter.py",
    env=None,
    backends=frozenset(BACKENDS),
    redis_db=1,
)

SYNC_ONLY = frozenset({"sync-enqueue"})
"""The workloads of a peer whose adapter covers only its blocking enqueue on a backend."""

PEERS = (
    LibrarySpec(
        name="arq",
        adapter="arq_adapter.py",
        env="arq",
        backends=frozenset({"redis"}),
        redis_db=2,
        notes={
            "redis": "pickle payloads; polls the queue every 0.5 s (`poll_delay`) and reads at "
            "most 5 x `max_jobs` job ids per poll, which caps its drain rate (250 jobs per "
            "0.5 s at concurrency 50) and sets its pickup latency; results kept 1 h; up to 5 "
            "tries.",
        },
    ),
    LibrarySpec(
        name="saq",
        adapter="saq_adapter.py",
        env="saq",
        backends=frozenset({"redis", "postgres"}),
        redis_db=3,
        notes={
            "redis": "one attempt by default (`retries=1`): a job whose worker dies is not "
            "run again unless retries are configured; records kept 600 s.",
            "postgres": "one attempt by default (`retries=1`); records kept 600 s.",
        },
    ),
    LibrarySpec(
        name="taskiq",
        adapter="taskiq_adapter.py",
        env="taskiq",
        backends=frozenset({"redis"}),
        redis_db=4,
        notes={
            "redis": "RedisStreamBroker (acknowledged, redelivered after 10 min idle) with "
            "RedisAsyncResultBackend; no job state beyond the result; no delayed jobs without "
            "a separate scheduler process.",
        },
    ),
    LibrarySpec(
        name="procrastinate",
        adapter="procrastinate_adapter.py",
        env="procrastinate",
        backends=frozenset({"postgres"}),
        redis_db=5,
        notes={
            "postgres": "finished jobs kept in the table; no retries unless configured.",
        },
    ),
    LibrarySpec(
        name="huey",
        adapter="huey_adapter.py",
        env="huey",
        backends=frozenset({"sqlite"}),
        redis_db=6,
        notes={
            "sqlite": "`SqliteHuey`, its consumer with thread workers; a worker deletes a task "
            "from the table when it takes it (no lease: a crash mid-task loses the task); "
            "pickle payloads; no retries unless configured; an idle worker polls every 0.1 s, "
            "backing off to 10 s, which sets its pickup latency; no bulk enqueue.",
            "redis": "`RedisHuey`, run for the blocking enqueue only: calling a task pushes "
            "it onto a Redis list (`LPUSH`, one round trip on redis-py's thread-safe pool); "
            "a consumer pops it (no lease: a crash mid-task loses the task); pickle payloads.",
            "postgres": "`PostgresHuey`, run for the blocking enqueue only: calling a task "
            "inserts it and sends a `pg_notify` in one transaction on the storage's one "
            "psycopg connection, which a lock lets one thread use at a time; pickle payloads.",
        },
        partial={"redis": SYNC_ONLY, "postgres": SYNC_ONLY},
    ),
    LibrarySpec(
        name="rq",
        adapter="rq_adapter.py",
        env="rq",
        backends=frozenset(),
        redis_db=7,
        notes={
            "redis": "RQ, run for the blocking enqueue only (its worker forks a process per "
            "job by default): `Queue.enqueue` stores the job hash and pushes its id in one "
            "`MULTI`/`EXEC` pipeline on redis-py's thread-safe pool; pickle payloads; results "
            "kept 500 s; no retries unless configured.",
        },
        partial={"redis": SYNC_ONLY},
    ),
)

LIBRARIES = {lib.name: lib for lib in (TASKRUNNER, *PEERS)}


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
