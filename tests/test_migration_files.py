"""Backends find their migration files the same way: `NNNN_name.sql`, oldest first."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskrunner.backend.migration_files import MigrationFile, migration_files


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "shipped_migrations_pkg"
    (root / "migrations").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    for name in (
        "0010_later.sql",
        "0002_second.sql",
        "0001_first.sql",
        "README.md",
        "0003-dash.sql",
        "12_short.sql",
        "0004_Upper.sql",
    ):
        (root / "migrations" / name).write_text("select 1;")
    sys.path.insert(0, str(tmp_path))
    try:
        yield root.name
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(root.name, None)


def test_only_numbered_sql_files_are_found_in_version_order(package: str) -> None:
    assert migration_files(package) == [
        MigrationFile(1, "first", "0001_first.sql"),
        MigrationFile(2, "second", "0002_second.sql"),
        MigrationFile(10, "later", "0010_later.sql"),
    ]


@pytest.mark.parametrize("package", ["taskrunner_postgres", "taskrunner_sqlite"])
def test_each_backend_ships_one_file_a_version_starting_at_one(package: str) -> None:
    versions = [shipped.version for shipped in migration_files(package)]
    assert versions[0] == 1
    assert len(set(versions)) == len(versions)
