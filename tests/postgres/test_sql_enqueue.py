"""Enqueue from SQL: `<schema>.enqueue(...)` (migrations/0011_task_registry.sql), called from
psql and over asyncpg. The job it stores is the one a Python enqueue of the same call
stores (settings, keys, payload bytes), a Python worker runs it, its workers are woken, the
counts and listings hold, and a dedup key answers the job that holds it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from taskrunner import JobState, TaskRunner
from taskrunner._serialization import encode_payload
from tests.postgres.sql_enqueue import psql_async, published, shop, sql_enqueue

SAME_FIELDS = ("task", "queue", "priority", "max_attempts", "limit_key", "limit_max",
               "rate_key", "rate_max", "rate_per", "payload")  # fmt: skip


@pytest.fixture
async def runner(pg_url: str) -> AsyncIterator[TaskRunner]:
    """The shop app, its tasks published."""
    runner = shop(pg_url)
    await published(runner)
    try:
        yield runner
    finally:
        await runner.close()


async def test_psql_enqueues_a_job_that_a_python_worker_runs(
    runner: TaskRunner, server: str, schema: str
) -> None:
    done = await psql_async(
        server, f"""SELECT {schema}.enqueue('shop.receipt', '[42]', '{{"note": "gift wrap"}}')"""
    )
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert uuid.UUID(job_id).version == 7
    job = await runner.get_job(job_id)
    assert (job.task, job.queue, job.state) == ("shop.receipt", "default", JobState.QUEUED)
    assert (job.args, job.kwargs) == ([42], {"note": "gift wrap"})
    await runner.worker(burst=True).run()
    job = await runner.get_job(job_id)
    assert (job.state, job.result) == (JobState.SUCCEEDED, "receipt 42: gift wrap")


async def test_an_idle_worker_is_woken(runner: TaskRunner, server: str, schema: str) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(server)
    await listener.add_listener(f"{schema}.queued", lambda *event: heard.put_nowait(event[3]))
    try:
        async with runner.worker(concurrency=2):
            done = await psql_async(server, f"SELECT {schema}.enqueue('math.total', '[1, 2.5]')")
            assert done.returncode == 0, done.stderr
            assert await asyncio.wait_for(heard.get(), 30) == "default"
            info = await runner.wait_for(done.stdout.strip(), timeout=30)
    finally:
        await listener.close()
    assert info is not None and info.result == 3.5


async def test_the_job_is_the_one_python_stores_for_the_same_call(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str
) -> None:
    calls: list[tuple[str, list[Any], dict[str, Any]]] = [
        ("crm.sync", [7], {"reason": "signup"}),
        ("crm.sync", ["acme"], {"full": True, "reason": None}),
        ("feeds.fetch", ["https://a.example/rss"], {"host": "a.example", "lang": "fr"}),
        ("math.total", [1, 2.5, -3e-7], {}),
        ("shop.receipt", [], {"order": 1}),
    ]
    backend = runner.backend
    for task, args, kwargs in calls:
        job_id = await sql_enqueue(admin, schema, task, args, kwargs)
        (stored,) = await backend.get([job_id])
        expected = runner.tasks[task].prepare(*args, **kwargs).new
        assert stored is not None
        for field in SAME_FIELDS:
            assert getattr(stored, field) == getattr(expected, field), (task, field)
    (stored,) = await backend.get([await sql_enqueue(admin, schema, "math.total")])
    assert stored is not None and stored.limit_key == "{sum}"  # "{{sum}}": a constant


async def test_options_override_the_tasks_settings(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    job_id = await sql_enqueue(
        admin, schema, "crm.sync", [7], {"reason": "x"},
        queue="crm-slow", priority=5, run_at=later, max_attempts=1,
    )  # fmt: skip
    job = await runner.get_job(job_id)
    assert (job.queue, job.priority, job.max_attempts) == ("crm-slow", 5, 1)
    assert (job.state, job.run_at) == (JobState.SCHEDULED, later)
    stats = await runner.stats(["crm-slow"])
    assert stats["crm-slow"][JobState.SCHEDULED] == 1


PAYLOADS: list[tuple[list[Any], dict[str, Any]]] = [
    ([], {}),
    (['é 😀 \u2028 / " \\ \n\t\b\f \x01\x1f\x7f', ""], {}),
    ([0, -1, 2**63 - 1, -(2**63), 2**64 - 1], {}),
    ([0.1, -2.5, 1.0, 100.0, 1e-5, 1.5e-7, 123456789.123, 1e15 + 0.5, 5e-324], {}),
    ([True, False, None, [], {}, [[1, {"a": None}]]], {}),
    ([1], {"b": 1, "aa": [1.25, {"a": True, "zz": "x"}]}),  # keys in jsonb's order
]


@pytest.mark.parametrize(("args", "kwargs"), PAYLOADS)
async def test_the_payload_is_byte_for_byte_pythons(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, args: Any, kwargs: Any
) -> None:
    job_id = await sql_enqueue(admin, schema, "misc.echo", args, kwargs)
    (stored,) = await runner.backend.get([job_id])
    assert stored is not None
    assert stored.payload == encode_payload(args, kwargs)


async def test_numbers_are_written_as_python_reads_them(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str
) -> None:
    """jsonb keeps a number's value, not its text: a float written 1e16 (or an integer past
    64 bits) reads as 10000000000000000, and the payload has what Python reads from that."""
    numbers = "[1e16, 1.5e300, 18446744073709551616, 1E23, 2.0e0, 1e-400, -1e-400, 0.00012]"
    text = await admin.fetchval("SELECT $1::jsonb::text", numbers)
    job_id = str(await admin.fetchval(f"SELECT \"{schema}\".enqueue('misc.echo', $1)", numbers))
    (stored,) = await runner.backend.get([job_id])
    assert stored is not None
    assert stored.payload == encode_payload(orjson.loads(text), {})
    assert orjson.loads(stored.payload)["args"][:4] == [10**16, 1.5e300, 2.0**64, 1e23]


async def test_a_dedup_key_answers_the_job_holding_it(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str
) -> None:
    first = await sql_enqueue(admin, schema, "shop.receipt", [1], key="order:1")
    assert await sql_enqueue(admin, schema, "shop.receipt", [2], key="order:1") == first
    python = await runner.tasks["shop.receipt"].options(key="order:1").enqueue(3)
    assert python.id == first
    elsewhere = await sql_enqueue(admin, schema, "shop.receipt", [4], key="order:1", queue="b")
    assert elsewhere != first
    assert (await runner.stats(["default"]))["default"][JobState.QUEUED] == 1
    # a holder past its retention holds no key: it is deleted, and the key taken
    await runner.worker(burst=True).run()
    await admin.execute(
        f"UPDATE \"{schema}\".jobs SET expires_at = now() - interval '1 second' WHERE id = $1",
        first,
    )
    taken = await sql_enqueue(admin, schema, "shop.receipt", [5], key="order:1")
    assert taken != first
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".jobs WHERE id = $1', first) == 0


async def test_counts_and_listings_hold(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str
) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    ids = [await sql_enqueue(admin, schema, "shop.receipt", [n]) for n in range(3)]
    ids.append(await sql_enqueue(admin, schema, "shop.receipt", [9], run_at=later))
    counts = (await runner.stats(["default"]))["default"]
    assert (counts[JobState.QUEUED], counts[JobState.SCHEDULED]) == (3, 1)
    listed = await runner.list_jobs(queue="default", task="shop.receipt")
    assert sorted(job.id for job in listed.jobs) == sorted(ids)
    await runner.worker(burst=True).run()
    counts = (await runner.stats(["default"]))["default"]
    assert (counts[JobState.SUCCEEDED], counts[JobState.SCHEDULED]) == (3, 1)


async def test_inside_a_transaction_it_lives_and_dies_with_it(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str
) -> None:
    async with admin.transaction():
        kept = await sql_enqueue(admin, schema, "shop.receipt", [1])
    rolled_back = admin.transaction()
    await rolled_back.start()
    await sql_enqueue(admin, schema, "shop.receipt", [2])
    await rolled_back.rollback()
    listed = await runner.list_jobs(queue="default")
    assert [job.id for job in listed.jobs] == [kept]
    assert (await runner.stats(["default"]))["default"][JobState.QUEUED] == 1


async def test_racing_calls_with_one_key_store_one_job(
    runner: TaskRunner, server: str, admin: asyncpg.Connection, schema: str
) -> None:
    connections = [await asyncpg.connect(server) for _ in range(6)]
    try:

        async def call(conn: asyncpg.Connection, n: int) -> str:
            async with conn.transaction():
                job_id = await sql_enqueue(conn, schema, "shop.receipt", [n], key="order:7")
                await asyncio.sleep(0.01 * (n % 3))  # hold the key a while, uncommitted
                return job_id

        ids = await asyncio.gather(*(call(conn, n) for n, conn in enumerate(connections)))
    finally:
        await asyncio.gather(*(conn.close() for conn in connections))
    assert len(set(ids)) == 1
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".jobs') == 1
    assert (await runner.stats(["default"]))["default"][JobState.QUEUED] == 1
