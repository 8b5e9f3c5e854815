"""The claim's index stays short (migrations/0014_vacuum_the_claim_index.sql): a claim reads
jobs_queued_idx with a plain index scan, and a VACUUM after a few claims among many stored
jobs removes the claimed jobs' dead entries from it instead of bypassing the indexes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from taskrunner.backend import Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import WORKER
from taskrunner_postgres import PostgresBackend
from tests.postgres.test_inspection import apply_first_migrations

pytestmark = pytest.mark.slow

STORED = 100_000
# claimed and finished out of STORED: their dead row versions sit on well under 2% of the
# table's pages, where Postgres's VACUUM skips the indexes unless told to clean them
CLAIMED = 300
HORIZON_TRIES = 60
BEFORE_0014 = 12  # 0001..0009, 0011..0013
OPTIONS = {
    "vacuum_index_cleanup": "on",
    "autovacuum_vacuum_threshold": "10000",
    "autovacuum_vacuum_scale_factor": "0.005",
}


@pytest.fixture
async def churned(pg_url: str, admin: asyncpg.Connection, schema: str) -> AsyncIterator[str]:
    """STORED queued jobs, of which the first CLAIMED were claimed and succeeded; answers the
    jobs table's name."""
    backend = PostgresBackend(pg_url)
    await backend.connect()
    jobs = f'"{schema}".jobs'
    try:
        await admin.execute(
            f"INSERT INTO {jobs} (id, task, queue, state, run_at, max_attempts, payload) "
            "SELECT gen_random_uuid(), 'noop', 'default', 'queued', now(), 1, '\\x5b5d' "
            f"FROM generate_series(1, {STORED})"
        )
        await admin.execute(f"ANALYZE {jobs}")
        for _ in range(CLAIMED // 50):
            claimed = await backend.claim(["default"], 50, WORKER, 30)
            assert len(claimed) == 50
            await backend.finish([Outcome(j.id, j.attempt, OutcomeKind.SUCCEEDED) for j in claimed])
        yield jobs
    finally:
        await backend.close()


async def messages(admin: asyncpg.Connection, statement: str, *args: object) -> list[str]:
    """The notices and INFO lines the server sends while `statement` runs (with `args`)."""
    heard: list[str] = []

    def hear(_conn: object, message: asyncpg.PostgresLogMessage) -> None:
        heard.append(str(message.message))

    admin.add_log_listener(hear)
    try:
        await admin.execute(statement, *args)
    finally:
        admin.remove_log_listener(hear)
    return heard


async def vacuum_report(admin: asyncpg.Connection, table: str) -> str:
    """What `VACUUM (VERBOSE) table` says of the table, once the dead rows could be removed:
    a transaction of another test (or another user of the server) that started before
    they died holds them, and the report then says no index scan was needed."""
    for _ in range(HORIZON_TRIES):
        heard = await messages(admin, f"VACUUM (VERBOSE) {table}")
        (report,) = [m for m in heard if m.startswith("finished vacuuming") and ".jobs" in m]
        if "index scan not needed" not in report:
            return report
        await asyncio.sleep(1)
    pytest.skip(f"another transaction kept the dead rows for {HORIZON_TRIES} s: {report}")


async def test_a_vacuum_after_a_few_claims_cleans_the_claim_index(
    admin: asyncpg.Connection, churned: str
) -> None:
    report = await vacuum_report(admin, churned)
    assert "index scan bypassed" not in report
    assert "index scans: 1" in report
    head = await admin.fetchval(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, FORMAT JSON) "
        f"SELECT id FROM {churned} WHERE state = 'queued' AND held IS NULL "
        "AND queue = 'default' ORDER BY priority, run_at, seq LIMIT 1"
    )
    assert '"Index Name": "jobs_queued_idx"' in head
    # the root, a leaf and the row: no leaf page of dead entries is left to walk
    assert '"Shared Hit Blocks": 3,' in head or '"Shared Hit Blocks": 4,' in head


async def test_the_claim_reads_the_queued_index_with_a_plain_index_scan(
    admin: asyncpg.Connection, churned: str, schema: str
) -> None:
    # a plain index scan marks the claimed jobs' dead entries so later claims skip them
    # without reading the table; a bitmap or index-only scan would not
    await admin.execute("LOAD 'auto_explain'")
    await admin.execute(
        "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;"
        "SET auto_explain.log_level = notice; SET client_min_messages = notice"
    )
    heard = await messages(
        admin, f"SELECT count(*) FROM \"{schema}\".claim_jobs(ARRAY['default'], 50, 'w', 30)"
    )
    (plan,) = [m for m in heard if "CROSS JOIN LATERAL" in m and "candidates" in m]
    assert "Index Scan using jobs_queued_idx on jobs j" in plan
    assert "Bitmap" not in plan
    assert "Index Only Scan using jobs_queued_idx" not in plan


async def test_an_upgrade_from_0013_sets_the_vacuum_options(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await apply_first_migrations(admin, schema, BEFORE_0014)
    backend = PostgresBackend(pg_url)
    await backend.connect()  # applies 0014
    await backend.close()
    reloptions = await admin.fetchval(
        "SELECT c.reloptions FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = 'jobs'",
        schema,
    )
    options = dict(option.split("=", 1) for option in reloptions)
    assert options == {
        **OPTIONS,
        "autovacuum_vacuum_insert_scale_factor": "0.05",  # 0001's, kept
        "autovacuum_analyze_scale_factor": "0.02",
    }
