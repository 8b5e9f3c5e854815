"""Versioned schema migrations: `migrations/NNNN_name.sql`, applied in order, once.

Applied versions are recorded in the `migrations` table. All pending migrations apply in
one `BEGIN IMMEDIATE` transaction, which holds the file's write lock: processes starting
together apply each migration once (the others wait for the lock, then find nothing to do),
and a failure leaves the file as it was.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from taskrunner.backend.migration_files import migration_files
from taskrunner_sqlite.queries import PACKAGE, read_resource, sql


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    filename: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    def statements(self) -> list[str]:
        """The file's statements, one by one (a trigger's body stays whole)."""
        found, current = [], ""
        for line in read_resource("migrations", self.filename).splitlines(keepends=True):
            current += line
            if sqlite3.complete_statement(current):
                found.append(current.strip())
                current = ""
        return [statement for statement in found if statement]


def known_migrations() -> list[Migration]:
    """Every migration shipped with this package, oldest first."""
    return [Migration(*shipped) for shipped in migration_files(PACKAGE)]


def pending_migrations(conn: sqlite3.Connection) -> list[Migration]:
    """The shipped migrations the file lacks."""
    if conn.execute(sql("migrations_exists")).fetchone() is None:
        return known_migrations()
    done = {version for (version,) in conn.execute(sql("migrations_applied"))}
    return [m for m in known_migrations() if m.version not in done]


def apply_migrations(conn: sqlite3.Connection, now: float) -> list[Migration]:
    """Apply pending migrations; call it inside a `BEGIN IMMEDIATE` transaction."""
    conn.execute(sql("migrations_create"))
    applied = []
    for migration in pending_migrations(conn):
        for statement in migration.statements():
            conn.execute(statement)
        conn.execute(sql("migrations_record"), (migration.version, migration.name, now))
        applied.append(migration)
    return applied
