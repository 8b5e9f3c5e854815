"""Migrations: they yield the declared schema, run once when workers start together, and
`migrate=false` refuses a schema that lacks them."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from taskrunner.errors import ConfigurationError
from taskrunner_postgres import PostgresBackend
from taskrunner_postgres.migrate import known_migrations

# the schema the migrations must produce: column -> (type, nullable)
COLUMNS = {
    "id": ("uuid", False),
    "task": ("text", False),
    "queue": ("text", False),
    "state": ("text", False),
    "priority": ("smallint", False),
    "run_at": ("timestamp with time zone", False),
    "seq": ("bigint", False),
    "attempt": ("integer", False),
    "max_attempts": ("integer", False),
    "key": ("text", True),
    "enqueued_at": ("timestamp with time zone", False),
    "started_at": ("timestamp with time zone", True),
    "finished_at": ("timestamp with time zone", True),
    "lease_until": ("timestamp with time zone", True),
    "expires_at": ("timestamp with time zone", True),
    "worker": ("text", True),
    "cancel_requested": ("boolean", False),
    "payload": ("bytea", False),
    "progress": ("bytea", True),
    "result": ("bytea", True),
    "error": ("bytea", True),
    "attempts": ("jsonb", True),  # 0002
    "limit_key": ("text", True),  # 0007
    "limit_max": ("integer", False),
    "rate_key": ("text", True),
    "rate_max": ("integer", False),
    "rate_per": ("double precision", False),
    "held": ("text", True),
    "batch_id": ("uuid", True),  # 0008
    "after": ("ARRAY", True),  # 0009
    "after_run_anyway": ("boolean", False),
    "after_ttl": ("double precision", True),
    "after_pending": ("integer", True),
}
# index -> its definition after "ON <schema>.jobs USING btree "
INDEXES = {
    "jobs_pkey": "(id)",
    # 0007: held jobs leave the claim's index
    "jobs_queued_idx": (
        "(queue, priority, run_at, seq) WHERE ((state = 'queued'::text) AND (held IS NULL))"
    ),
    "jobs_scheduled_idx": "(queue, run_at) WHERE (state = 'scheduled'::text)",
    "jobs_running_idx": "(lease_until) WHERE (state = 'running'::text)",
    "jobs_expiring_idx": "(expires_at) WHERE (expires_at IS NOT NULL)",
    "jobs_list_idx": "(queue, state, id) WHERE (state <> 'running'::text)",  # 0002
    "jobs_queue_key_idx": "(queue, key) WHERE (key IS NOT NULL)",  # 0003
    # 0007
    "jobs_running_limit_idx": (
        "(queue, limit_key) WHERE ((state = 'running'::text) AND (limit_key IS NOT NULL))"
    ),
    # claim order since 0012, which counts a key's backlog along it
    "jobs_queued_limit_idx": (
        "(queue, limit_key, priority, run_at, seq) WHERE ((state = 'queued'::text) "
        "AND (held IS NULL) AND (limit_key IS NOT NULL))"
    ),
    "jobs_queued_rate_idx": (
        "(queue, rate_key) WHERE ((state = 'queued'::text) AND (held IS NULL) "
        "AND (rate_key IS NOT NULL))"
    ),
    "jobs_held_limit_idx": (
        "(queue, limit_key, priority, run_at, seq) WHERE (held = 'limit'::text)"
    ),
    "jobs_held_rate_idx": "(queue, rate_key, priority, run_at, seq) WHERE (held = 'rate'::text)",
    # 0008, changed by 0012: members in order but the running ones, and members not started
    "jobs_batch_idx": (
        "(batch_id, id) WHERE ((batch_id IS NOT NULL) AND (state <> 'running'::text))"
    ),
    "jobs_batch_pending_idx": (
        "(batch_id, state, run_at) WHERE ((batch_id IS NOT NULL) "
        "AND (state = ANY (ARRAY['queued'::text, 'scheduled'::text])))"
    ),
}
# the other tables (0002) -> their primary key
TABLES = {
    "migrations": "(version)",
    "jobs": "(id)",
    "tallies": "(queue, minute, slot)",
    "workers": "(id)",
    "ended": "(queue, second, slot)",  # 0004
    "paused_queues": "(queue)",  # 0005
    "dedup_windows": "(queue, key)",  # 0006
    "rate_windows": "(queue, key)",  # 0007
    "batches": "(id)",  # 0008
    "batch_callbacks": "(batch_id, kind)",
    "job_dependencies": "(dependency, dependent)",  # 0009
    "task_specs": "(name)",  # 0011
}
# the triggers that keep the tallies (0004) -> their timing, event and level
TRIGGERS = {
    "jobs_stored": ("AFTER", "INSERT", "statement"),  # since 0015, the batches' counts too
    "jobs_updated": ("AFTER", "UPDATE", "statement"),
    "jobs_deleted": ("AFTER", "DELETE", "statement"),
    "jobs_truncated": ("AFTER", "TRUNCATE", "statement"),
    # and the counts of batches (0008; 0015 merged jobs_batch_stored into jobs_stored)
    "jobs_batch_updated": ("AFTER", "UPDATE", "statement"),
    # and dependencies (0009): per row only for jobs with `after` (a WHEN clause); the ends
    # of dependencies are judged by jobs_updated
    "jobs_wait_on": ("BEFORE", "INSERT", "row"),
    "jobs_waits": ("AFTER", "INSERT", "row"),
    # and holds at enqueue (0012): per row only for queued jobs with a limit key
    "jobs_held_at_enqueue": ("BEFORE", "INSERT", "row"),
}


async def test_migrations_yield_the_declared_schema(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    columns = await admin.fetch(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = 'jobs'",
        schema,
    )
    assert {c["column_name"]: (c["data_type"], c["is_nullable"] == "YES") for c in columns} == (
        COLUMNS
    )
    indexes = await admin.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'jobs'",
        schema,
    )
    found = {i["indexname"]: i["indexdef"].split(" USING btree ", 1)[1] for i in indexes}
    assert found == INDEXES
    unique = {i["indexname"] for i in indexes if i["indexdef"].startswith("CREATE UNIQUE")}
    assert unique == {"jobs_pkey", "jobs_queue_key_idx"}
    keys = await admin.fetch(
        "SELECT tablename, indexdef FROM pg_indexes "
        "WHERE schemaname = $1 AND indexname LIKE '%_pkey'",
        schema,
    )
    assert {k["tablename"]: k["indexdef"].split(" USING btree ", 1)[1] for k in keys} == TABLES
    triggers = await admin.fetch(
        "SELECT t.tgname, t.tgtype FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = 'jobs' AND NOT t.tgisinternal",
        schema,
    )
    assert {t["tgname"]: _kind(t["tgtype"]) for t in triggers} == TRIGGERS
    versions = await admin.fetch(f'SELECT version, name FROM "{schema}".migrations ORDER BY 1')
    assert [(v["version"], v["name"]) for v in versions] == [
        (m.version, m.name) for m in known_migrations()
    ]


def _kind(tgtype: int) -> tuple[str, str, str]:
    """A trigger's timing, its one event and its level, from pg_trigger.tgtype's bits."""
    events = {4: "INSERT", 8: "DELETE", 16: "UPDATE", 32: "TRUNCATE"}
    (event,) = [name for bit, name in events.items() if tgtype & bit]
    return ("BEFORE" if tgtype & 2 else "AFTER", event, "row" if tgtype & 1 else "statement")


async def test_workers_starting_together_migrate_once(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    backends = [PostgresBackend(pg_url) for _ in range(4)]
    try:
        await asyncio.gather(*(b.connect() for b in backends))
        assert await PostgresBackend(pg_url).migrate() == []  # nothing left to apply
    finally:
        await asyncio.gather(*(b.close() for b in backends))
    count = await admin.fetchval(f'SELECT count(*) FROM "{schema}".migrations')
    assert count == len(known_migrations())


async def test_migrate_applies_pending_migrations_by_name(pg_url: str) -> None:
    assert await PostgresBackend(pg_url).migrate() == [
        f"{m.version:04d}_{m.name}" for m in known_migrations()
    ]


async def test_migrate_off_refuses_an_unmigrated_schema(pg_url: str) -> None:
    backend = PostgresBackend(pg_url + "&migrate=false")
    with pytest.raises(ConfigurationError, match=r"lacks migrations.*taskrunner migrate"):
        await backend.connect()
    await PostgresBackend(pg_url).migrate()
    await backend.connect()
    await backend.close()
