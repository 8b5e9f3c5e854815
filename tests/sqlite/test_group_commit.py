"""Writes that queue while the store's thread is busy share one transaction and one commit
(`taskrunner_sqlite.commits`), each still in a savepoint of its own: one that fails is
rolled back alone, a transaction that fails fails them all, and a caller hears back only
after the commit. The thread is held busy on purpose, so that the writes queue for sure."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from taskrunner.backend import NewJob
from taskrunner.errors import BackendError, ConfigurationError, DependencyNotFound
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_sqlite import SqliteBackend
from tests.sqlite.conftest import connected


@contextmanager
def counting_commits(backend: SqliteBackend) -> Iterator[list[str]]:
    """The COMMITs the backend's connection runs in the block."""
    conn = backend._store.conn
    assert conn is not None
    commits: list[str] = []
    conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    try:
        yield commits
    finally:
        conn.set_trace_callback(None)


@asynccontextmanager
async def thread_held(backend: SqliteBackend) -> AsyncIterator[None]:
    """Keep the store's thread busy for the block; the writes started in it queue."""
    thread = backend._store._thread
    assert thread is not None
    release, holding = threading.Event(), threading.Event()

    def hold() -> None:
        holding.set()
        release.wait(30)

    done = asyncio.wrap_future(thread.submit(hold))
    await asyncio.to_thread(holding.wait, 30)
    try:
        yield
    finally:
        release.set()
        await done


async def queued(calls: list[Awaitable[Any]]) -> list[asyncio.Task[Any]]:
    """Start each call as a task and let every one of them reach its queue."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return tasks


def stored(db_path: Path, jobs: list[NewJob]) -> list[bool]:
    """Whether each job is in the file, read by a connection of another 'process'."""
    conn = sqlite3.connect(db_path)
    try:
        return [
            conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone() is not None
            for job in jobs
        ]
    finally:
        conn.close()


async def test_writes_that_queue_together_commit_once(
    backend: SqliteBackend, db_path: Path
) -> None:
    jobs = [new_job() for _ in range(20)]
    with counting_commits(backend) as commits:
        async with thread_held(backend):
            tasks = await queued([backend.enqueue([job]) for job in jobs])
            assert not any(task.done() for task in tasks)  # none answered before the commit
        answers = await asyncio.gather(*tasks)
    assert answers == [[job.id] for job in jobs]
    assert len(commits) == 1
    assert stored(db_path, jobs) == [True] * 20


async def test_a_lone_write_commits_at_once(backend: SqliteBackend, db_path: Path) -> None:
    job = new_job()
    with counting_commits(backend) as commits:
        assert await backend.enqueue([job]) == [job.id]
    assert len(commits) == 1 and stored(db_path, [job]) == [True]


async def test_a_failing_write_is_rolled_back_alone(backend: SqliteBackend, db_path: Path) -> None:
    first, orphan, last = new_job(), new_job(after=("no-such-job",)), new_job()
    with counting_commits(backend) as commits:
        async with thread_held(backend):
            tasks = await queued([backend.enqueue([job]) for job in (first, orphan, last)])
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == [first.id] and results[2] == [last.id]
    assert isinstance(results[1], DependencyNotFound)
    assert len(commits) == 1
    assert stored(db_path, [first, orphan, last]) == [True, False, True]


async def test_a_failed_transaction_fails_every_write_of_its_group(
    sqlite_url: str, db_path: Path
) -> None:
    async with connected(f"{sqlite_url}?busy_timeout=0.2") as backend:
        jobs = [new_job() for _ in range(3)]
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            async with thread_held(backend):
                tasks = await queued([backend.enqueue([job]) for job in jobs])
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert all(isinstance(r, BackendError) and "locked" in str(r) for r in results)
        assert stored(db_path, jobs) == [False] * 3
        assert await backend.enqueue([jobs[0]]) == [jobs[0].id]  # the next group commits


async def test_a_cancelled_caller_s_write_still_commits(
    backend: SqliteBackend, db_path: Path
) -> None:
    job = new_job()
    async with thread_held(backend):
        (task,) = await queued([backend.enqueue([job])])
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await backend.enqueue([new_job()])  # a later write: the cancelled one's group is done
    assert stored(db_path, [job]) == [True]


async def test_a_write_after_close_fails_clearly(sqlite_url: str) -> None:
    backend = SqliteBackend(sqlite_url)
    await backend.connect()
    await backend.close()
    with pytest.raises(ConfigurationError, match="not connected"):
        await backend.enqueue([new_job()])


async def test_the_savepoints_undo_pages_stay_in_memory(backend: SqliteBackend) -> None:
    # each write of a group runs in a savepoint, whose undo copy of every page it changes
    # SQLite keeps in a temporary file unless temp_store is MEMORY (2): 8x the bytes written
    conn = backend._store.conn
    assert conn is not None
    assert conn.execute("PRAGMA temp_store").fetchone() == (2,)
