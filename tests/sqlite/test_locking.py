"""One writer at a time: a write waits for another connection's write lock up to
`busy_timeout`, then fails with a BackendError that says so; reads never wait."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from taskrunner.errors import BackendError
from taskrunner.testing.conformance.helpers import new_job
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
