"""The backend's pool gives connections back without asyncpg's reset query (a round trip
on every use: `CLOSE ALL; UNLISTEN *; RESET ALL; SELECT pg_advisory_unlock_all()`), which
is safe only while the backend's statements leave no session state behind; the second test
holds its SQL to that."""

from __future__ import annotations

import re
from pathlib import Path

import taskrunner_postgres
from taskrunner_postgres import PostgresBackend

PACKAGE = Path(taskrunner_postgres.__file__).parent
# statements that leave state in the session: a SET or RESET that is not LOCAL (an UPDATE's
# SET follows its UPDATE, so only a statement's first word counts), a session setting, a
# session-level advisory lock, a LISTEN, a cursor kept past its transaction
SESSION_STATE = (
    re.compile(r"^(SET|RESET)\b(?!\s+LOCAL\b)", re.IGNORECASE),
    re.compile(r"set_config\([^;]*?,\s*false\s*\)", re.IGNORECASE),
    re.compile(r"pg_(try_)?advisory_lock(_shared)?\s*\(", re.IGNORECASE),
    re.compile(r"^LISTEN\b", re.IGNORECASE),
    re.compile(r"WITH\s+HOLD", re.IGNORECASE),
)


async def test_a_connection_given_back_is_not_reset(pg_url: str) -> None:
    backend = PostgresBackend(f"{pg_url}&pool_min=1&pool_max=1")
    await backend.connect()
    try:
        pool = backend._store.require_pool()
        async with pool.acquire() as conn:
            await conn.execute("SELECT set_config('application_name', 'given back', false)")
        async with pool.acquire() as conn:  # the same connection: the pool holds one
            kept = await conn.fetchval("SHOW application_name")
            await conn.execute("RESET application_name")
    finally:
        await backend.close()
    assert kept == "given back"


def statements(path: Path) -> list[str]:
    """The file's statements (and those of function bodies), comments left out."""
    text = re.sub(r"--[^\n]*", "", path.read_text())
    return [part.strip() for part in re.split(r";|\$\$|\bBEGIN\b|\bTHEN\b|\bELSE\b", text)]


def test_the_backend_s_sql_leaves_no_session_state() -> None:
    files = sorted((PACKAGE / "sql").glob("*.sql")) + sorted((PACKAGE / "migrations").glob("*.sql"))
    assert len(files) > 40
    found = [
        f"{path.name}: {statement[:60]!r}"
        for path in files
        for statement in statements(path)
        if any(pattern.search(statement) for pattern in SESSION_STATE)
    ]
    assert found == []
