"""One writer at a time: a write waits for another connection's write lock up to
`busy_timeout`, trying again in short steps (`locks`), then fails with a BackendError that
says so; reads never wait. And one event loop after another (asyncio.run twice), as
scripts do."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from taskrunner.backend import JobState, Outcome, OutcomeKind
from taskrunner.errors import BackendError
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_sqlite import SqliteBackend
from taskrunner_sqlite.locks import LONGEST_PAUSE, when_free
from tests.sqlite.conftest import connected


async def test_a_write_lock_held_past_busy_timeout_fails_the_write_clearly(
    sqlite_url: str, db_path: Path
) -> None:
    async with connected(f"{sqlite_url}?busy_timeout=0.2") as backend:
        stored = new_job()
        await backend.enqueue([stored])
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process's long write transaction
            with pytest.raises(BackendError, match=r"locked.*past busy_timeout") as failed:
                await backend.enqueue([new_job()])
            assert str(db_path) in str(failed.value)
            assert [r and r.id for r in await backend.get([stored.id])] == [stored.id]
        finally:
            other.execute("ROLLBACK")
            other.close()
        late = new_job()
        assert await backend.enqueue([late]) == [late.id]


async def test_a_write_waits_for_a_lock_freed_meanwhile(
    backend: SqliteBackend, db_path: Path
) -> None:
    conn = backend._store.conn
    assert conn is not None
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (0,)  # no sleeps of SQLite's
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.05, other.execute, "ROLLBACK")
        job = new_job()
        assert await backend.enqueue([job]) == [job.id]
    finally:
        other.close()


def test_the_lock_is_tried_again_in_short_steps(db_path: Path) -> None:
    holder, waiter = (sqlite3.connect(db_path, isolation_level=None) for _ in range(2))
    waiter.execute("PRAGMA busy_timeout = 0")
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 6:
            holder.execute("ROLLBACK")

    try:
        holder.execute("BEGIN IMMEDIATE")
        when_free(lambda: waiter.execute("BEGIN IMMEDIATE"), 30, pause)
        assert waiter.in_transaction and len(pauses) == 6
        assert all(0 < seconds <= LONGEST_PAUSE for seconds in pauses)
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            when_free(lambda: waiter.execute("SELECT * FROM nowhere"), 30, pause)
        assert len(pauses) == 6  # an error other than a lock is not retried
    finally:
        waiter.close()
        holder.close()


def test_a_backend_serves_one_event_loop_after_another(sqlite_url: str) -> None:
    """As a script running one loop, then another, does: the first loop ends while the
    backend waits (its poll left pending), and in the second another process's writes
    still wake a waiter."""
    backend = SqliteBackend(sqlite_url)
    first = asyncio.new_event_loop()
    first.run_until_complete(backend.connect())
    with pytest.raises(TimeoutError):
        first.run_until_complete(asyncio.wait_for(backend.wait(["default"], 30), 0.05))
    first.close()

    async def woken_by_a_peer() -> None:
        job = new_job()
        await backend.enqueue([job])
        async with connected(sqlite_url) as peer:  # another process's connections
            (record,) = await peer.claim(["default"], 1, "w", 30)
            waiting = asyncio.create_task(backend.wait_finished(job.id, 30))
            await asyncio.sleep(0.05)
            await peer.finish([Outcome(record.id, record.attempt, OutcomeKind.SUCCEEDED)])
            finished = await waiting  # None if no poll saw the peer's write
        assert finished is not None and finished.state is JobState.SUCCEEDED
        await backend.close()

    asyncio.run(woken_by_a_peer())
