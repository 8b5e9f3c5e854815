"""Migrations of the SQLite file: applied once at connect or by `taskrunner migrate`, and a
file that lacks them refused when `migrate` is off."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from taskrunner.cli import app
from taskrunner.errors import ConfigurationError
from taskrunner_sqlite import SqliteBackend
from taskrunner_sqlite.migrate import known_migrations


async def test_connect_migrates_and_migrate_then_finds_nothing(sqlite_url: str) -> None:
    backend = SqliteBackend(sqlite_url)
    await backend.connect()
    try:
        assert await backend.migrate() == []
    finally:
        await backend.close()


async def test_without_migrate_a_bare_file_is_refused_until_migrated(sqlite_url: str) -> None:
    backend = SqliteBackend(f"{sqlite_url}?migrate=false")
    with pytest.raises(
        ConfigurationError, match=r"lacks migrations \(0001_jobs.*taskrunner migrate"
    ):
        await backend.connect()
    assert await backend.migrate() == [m.label for m in known_migrations()]
    await backend.connect()
    await backend.close()


async def test_processes_starting_together_migrate_once(sqlite_url: str, db_path: Path) -> None:
    backends = [SqliteBackend(sqlite_url) for _ in range(4)]
    async with anyio.create_task_group() as tg:
        for backend in backends:
            tg.start_soon(backend.connect)
    for backend in backends:
        await backend.close()
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT version FROM migrations").fetchall()
        assert rows == [(m.version,) for m in known_migrations()]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_cli_migrates_a_sqlite_file(sqlite_url: str) -> None:
    cli = CliRunner()
    first = cli.invoke(app, ["migrate", "--url", sqlite_url])
    assert first.exit_code == 0, first.output
    assert "applied migration 0001_jobs" in first.output
    again = cli.invoke(app, ["migrate", "--url", sqlite_url])
    assert again.exit_code == 0 and "already up to date" in again.output
