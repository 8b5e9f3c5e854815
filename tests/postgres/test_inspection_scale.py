"""With a million jobs, listing, counting and reading activity stay on indexes: the plans
Postgres picks (with the parameters known, and the generic plan a prepared statement ends
up with) never read the jobs table from end to end."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from taskrunner.backend import JobFilter, JobState
from taskrunner.backend.inspection import MINUTES_KEPT, RECENT_LIMIT
from taskrunner_postgres import PostgresBackend
from taskrunner_postgres.inspection import listing

pytestmark = pytest.mark.slow

JOBS = 1_000_000
# ids are UUIDv7-like (48 bits of milliseconds first); states: 70% succeeded, 20% queued,
# 5% failed, 3% scheduled for tomorrow, 1.8% cancelled, 0.1% waiting (on no edge: the
# listing reads only the jobs), 0.1% running; 4 queues, 7 tasks
FILL = """
INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, payload,
                             enqueued_at, attempt, started_at, finished_at, worker,
                             lease_until)
SELECT (lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(g::text), 1, 19))::uuid,
       'tasks.t' || (g % 7), 'q' || (g % 4), s.state,
       CASE WHEN s.state = 'scheduled' THEN now() + interval '1 day' ELSE t.at END,
       3, '{{"args":[]}}'::bytea, t.at,
       CASE WHEN s.state IN ('waiting', 'queued', 'scheduled') THEN 0 ELSE 1 END,
       CASE WHEN s.state NOT IN ('waiting', 'queued', 'scheduled') THEN t.at END,
       CASE WHEN s.state IN ('succeeded', 'failed', 'cancelled') THEN t.at END,
       CASE WHEN s.state NOT IN ('waiting', 'queued', 'scheduled') THEN 'w' END,
       CASE WHEN s.state = 'running' THEN now() + interval '1 hour' END
FROM generate_series(1, {jobs}) AS g
CROSS JOIN LATERAL (SELECT now() - interval '2 days' + g * interval '150 ms' AS at) AS t
CROSS JOIN LATERAL (
    SELECT CASE WHEN g / 4 % 1000 < 700 THEN 'succeeded'
                WHEN g / 4 % 1000 < 900 THEN 'queued'
                WHEN g / 4 % 1000 < 950 THEN 'failed'
                WHEN g / 4 % 1000 < 980 THEN 'scheduled'
                WHEN g / 4 % 1000 < 998 THEN 'cancelled'
                WHEN g / 4 % 1000 < 999 THEN 'waiting'
                ELSE 'running' END AS state
) AS s
"""


async def _fill(server: str, schema: str) -> None:
    await PostgresBackend(f"{server}?schema={schema}").migrate()
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(FILL.format(schema=schema, jobs=JOBS))
        await conn.execute(f'VACUUM ANALYZE "{schema}".jobs')
    finally:
        await conn.close()


async def _drop(server: str, schema: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def big_schema(server: str) -> Iterator[str]:
    """A schema holding a million jobs, shared by this module's tests (they only read)."""
    name = f"test_big_{secrets.token_hex(6)}"
    try:
        asyncio.run(_fill(server, name))
        yield name
    finally:
        asyncio.run(_drop(server, name))


@pytest.fixture
async def big(server: str, big_schema: str) -> AsyncIterator[PostgresBackend]:
    backend = PostgresBackend(f"{server}?schema={big_schema}")
    await backend.connect()
    try:
        yield backend
    finally:
        await backend.close()


CUSTOM, GENERIC = "force_custom_plan", "force_generic_plan"


async def plans(
    admin: asyncpg.Connection, query: str, args: list[Any], modes: tuple[str, ...]
) -> list[str]:
    """EXPLAIN ANALYZE of `query` run with `args`, planned as in `modes`: with the values
    known (how the backend runs listings, see `fetch_planned`) and as the generic plan a
    prepared statement that asyncpg caches may end up with."""
    statement = await admin.prepare(query)
    types = [
        await admin.fetchval("SELECT format_type($1, NULL)", t.oid)
        for t in statement.get_parameters()
    ]
    literals = [
        f"{await admin.fetchval(f'SELECT quote_nullable($1::{kind}::text)', value)}::{kind}"
        for kind, value in zip(types, args, strict=True)
    ]
    await admin.execute("SET jit = off")  # as the backend's connections
    await admin.execute(f"PREPARE probe ({', '.join(types)}) AS {query}")
    found = []
    try:
        for mode in modes:
            await admin.execute(f"SET plan_cache_mode = {mode}")
            rows = await admin.fetch(
                f"EXPLAIN (ANALYZE, COSTS off) EXECUTE probe ({', '.join(literals)})"
            )
            found.append("\n".join(row[0] for row in rows))
    finally:
        await admin.execute("RESET plan_cache_mode; RESET jit")
        await admin.execute("DEALLOCATE probe")
    return found


SCAN = re.compile(r"Scan.* on jobs .*actual time=\S+ rows=(\d+) loops=(\d+)")
REMOVED = re.compile(r"Rows Removed by Filter: (\d+)")


def on_indexes(plan: str, most: int = 5_000) -> None:
    """No scan of the jobs table, and at most `most` rows read from it in all: each index
    walk stopped early, whatever the million rows hold."""
    assert "Seq Scan on jobs" not in plan, plan
    read = sum(int(rows) * int(loops) for rows, loops in SCAN.findall(plan))
    read += sum(int(removed) for removed in REMOVED.findall(plan))
    assert read <= most, plan


@pytest.mark.parametrize("queue", [None, "q2"])
@pytest.mark.parametrize("state", [None, *JobState])
async def test_listing_a_million_jobs_walks_indexes(
    big: PostgresBackend, admin: asyncpg.Connection, queue: str | None, state: JobState | None
) -> None:
    page = await big.list_jobs(JobFilter(queue=queue, state=state), 50)
    assert page and all(r.state is (state or r.state) for r in page)
    assert all(r.queue == (queue or r.queue) for r in page)
    found = listing(big._queries, JobFilter(queue=queue, state=state), 50, page[-1].id)
    assert found is not None
    (plan,) = await plans(admin, *found, (CUSTOM,))
    on_indexes(plan)


async def test_filtered_listings_and_the_newest_jobs_of_a_task(
    big: PostgresBackend, admin: asyncpg.Connection
) -> None:
    now = await big.now()
    for where in (
        JobFilter(task="tasks.t3"),
        JobFilter(since=now - 8 * 3600),  # the newest jobs are about six hours old
        JobFilter(queue="q1", state=JobState.FAILED, task="tasks.t5", until=now - 3600),
        JobFilter(state=JobState.SUCCEEDED, since=now - 86_400, until=now - 3600),
    ):
        assert await big.list_jobs(where, 50)
        found = listing(big._queries, where, 50, None)
        assert found is not None
        for plan in await plans(admin, *found, (CUSTOM,)):
            on_indexes(plan)


async def test_counts_and_activity_of_a_million_jobs_read_no_table(
    big: PostgresBackend, admin: asyncpg.Connection
) -> None:
    queues = ["q0", "q1", "q2", "q3"]
    queries = big._queries
    both = (CUSTOM, GENERIC)
    for query, args, modes, most in (
        (queries.stats, [None], both, 5_000),
        (queries.stats, [queues], both, 5_000),
        (queries.oldest_due, [queues], both, 100),
        # the last finished jobs of each queue, for runtime percentiles
        (queries.activity_recent, [queues, RECENT_LIMIT, MINUTES_KEPT], (CUSTOM,), 25_000),
        (queries.activity_minutes, [queues, MINUTES_KEPT], both, 0),
        (queries.activity_seconds, [queues, int(await big.now()) - 300], both, 0),
    ):
        for plan in await plans(admin, query, args, modes):
            on_indexes(plan, most)
    activity = await big.activity(queues, since=await big.now() - 300)
    assert all(a.oldest_due_at is not None for a in activity.values())
