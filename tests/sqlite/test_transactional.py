"""Jobs enqueued on the caller's own sqlite3 connection live and die with its transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from taskrunner import JobNotFound, JobState, TaskRunner
from taskrunner.errors import ConfigurationError


@pytest.fixture
async def runner(sqlite_url: str) -> AsyncIterator[TaskRunner]:
    runner = TaskRunner(sqlite_url)
    await runner.connect()
    try:
        yield runner
    finally:
        await runner.close()


@pytest.fixture
def app_conn(db_path: Path, runner: TaskRunner) -> Iterator[sqlite3.Connection]:
    """The app's own connection to the jobs file (after the runner migrated it)."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)")
    try:
        yield conn
    finally:
        conn.close()


async def test_rollback_leaves_no_job(runner: TaskRunner, app_conn: sqlite3.Connection) -> None:
    @runner.task
    async def send_receipt(order: int) -> None: ...

    app_conn.execute("BEGIN IMMEDIATE")
    app_conn.execute("INSERT INTO orders (id) VALUES (42)")
    job = await send_receipt.options(connection=app_conn).enqueue(42)
    (other,) = await runner.enqueue_many([send_receipt.prepare(43)], connection=app_conn)
    assert app_conn.execute("SELECT count(*) FROM jobs").fetchone() == (2,)
    with pytest.raises(JobNotFound):  # other connections do not see it yet
        await runner.get_job(job.id)
    app_conn.execute("ROLLBACK")
    for lost in (job, other):
        with pytest.raises(JobNotFound):
            await runner.get_job(lost.id)
    assert sum((await runner.stats(["default"]))["default"].values()) == 0


async def test_commit_makes_the_job_claimable_and_wakes_workers(
    runner: TaskRunner, app_conn: sqlite3.Connection
) -> None:
    @runner.task
    async def send_receipt(order: int) -> None: ...

    backend = runner.backend
    waiting = asyncio.create_task(backend.wait(["default"], 60))
    await asyncio.sleep(0.1)
    app_conn.execute("BEGIN IMMEDIATE")
    job = await send_receipt.options(connection=app_conn, key="order:42").enqueue(42)
    await asyncio.sleep(0.1)
    assert not waiting.done()  # nothing is due before the commit
    app_conn.execute("COMMIT")
    await asyncio.wait_for(waiting, 30)  # a hang guard, not a timing check
    assert (await runner.get_job(job.id)).state is JobState.QUEUED
    (claimed,) = await backend.claim(["default"], 10, "w", 30)
    assert claimed.id == job.id
    again = await send_receipt.options(key="order:42").enqueue(42)
    assert again.duplicate and again.id == job.id


async def test_a_connection_of_another_kind_or_file_is_refused(
    runner: TaskRunner, tmp_path: Path
) -> None:
    @runner.task
    async def send_receipt(order: int) -> None: ...

    with pytest.raises(ConfigurationError, match=r"sqlite3\.Connection, got str"):
        await send_receipt.options(connection="jobs.db").enqueue(1)
    elsewhere = sqlite3.connect(tmp_path / "other.db")
    memory = sqlite3.connect(":memory:")
    try:
        with pytest.raises(ConfigurationError, match="not to the backend's file"):
            await send_receipt.options(connection=elsewhere).enqueue(1)
        with pytest.raises(ConfigurationError, match="in-memory database"):
            await send_receipt.options(connection=memory).enqueue(1)
    finally:
        elsewhere.close()
        memory.close()
