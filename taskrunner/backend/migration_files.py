"""Finding a backend's versioned migration files, `NNNN_name.sql`, among its package data.

Backends that keep a schema ship one SQL file per version in a folder of their package; how
each applies them (a transaction, a lock) is its own, the naming and the order are shared.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import NamedTuple

_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


class MigrationFile(NamedTuple):
    """One shipped migration: its version, its name and the file's name."""

    version: int
    name: str
    filename: str


def migration_files(package: str, folder: str = "migrations") -> list[MigrationFile]:
    """The migration files in `package`'s `folder`, oldest first; other files are ignored."""
    found = []
    for entry in files(package).joinpath(folder).iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append(MigrationFile(int(match[1]), match[2], entry.name))
    return sorted(found)
