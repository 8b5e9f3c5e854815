"""The libraries that can be run: their adapters, their environments, the backends where
each runs (all workloads, or some only) and what a reader must know to compare them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
