"""The backend's SQL, read from the package's `.sql` files and bound to one schema.

The files name the schema as `{schema}`, the NOTIFY channels as `{queued_channel}`,
`{finished_channel}` and `{cancel_channel}`, and shared parts by their file's name:
`{record}` (the columns of a job record, `sql/record.sql`), `{batch_record}` (those of a
batch `b`), `{tally_merge}` (the upsert that adds to a tally), `{list_where}` (the filters of
a listing), `{unexpired}` (the job `j` is within its retention: every read treats a record
past it as gone, before reclaim deletes it) and `{batch_unexpired}` (the same for a batch).
Only these validated names are ever put into SQL text; every value travels as a query
parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from taskrunner_postgres.settings import PostgresSettings

PACKAGE = "taskrunner_postgres"


@cache
def read_resource(folder: str, name: str) -> str:
    """The text of a file shipped in the package (`sql/claim.sql`, `migrations/...`)."""
    return (files(PACKAGE) / folder / name).read_text(encoding="utf-8")


# a part may hold the parts after it: list_where holds unexpired
PARTS = ("record", "batch_record", "tally_merge", "list_where", "unexpired", "batch_unexpired")


def render(text: str, settings: PostgresSettings) -> str:
    """Put the shared parts, schema and channel names into a SQL file's text."""
    for part in PARTS:
        text = text.replace("{" + part + "}", read_resource("sql", f"{part}.sql").strip())
    return (
        text.replace("{schema}", f'"{settings.schema}"')
        .replace("{queued_channel}", settings.queued_channel)
        .replace("{finished_channel}", settings.finished_channel)
        .replace("{cancel_channel}", settings.cancel_channel)
    )


@dataclass(frozen=True, slots=True)
class Queries:
    """Every statement the backend runs, rendered for one schema."""

    enqueue: str
    enqueue_one: str
    enqueue_keyed: str
    enqueue_window: str
    claim: str
    heartbeat: str
    finish: str
    get: str
    cancel: str
    retry: str
    reclaim: str
    prune: str
    next_due: str
    stats: str
    purge: str
    delete: str
    drop_expired: str
    tidy: str
    list_jobs_all: str
    list_jobs: str
    list_jobs_queue: str
    activity_queues: str
    activity_minutes: str
    activity_seconds: str
    activity_recent: str
    oldest_due: str
    flow_counts: str
    register_worker: str
    unregister_worker: str
    workers: str
    pause: str
    resume: str
    paused: str
    now: str
    ping: str
    migrations_lock: str
    migrations_create: str
    migrations_exists: str
    migrations_applied: str
    migrations_record: str
    open_batch: str
    close_batch: str
    get_batches: str
    list_batches: str
    batch_members: str
    batch_waiting: str
    lock_dependencies: str
    dependents: str

    @classmethod
    def load(cls, settings: PostgresSettings) -> Queries:
        """Read and render every statement for `settings.schema`."""
        texts = {name: read_resource("sql", f"{name}.sql") for name in cls.__dataclass_fields__}
        return cls(**{name: render(text, settings) for name, text in texts.items()})
