"""Versioned schema migrations: `migrations/NNNN_name.sql`, applied in order, once.

Applied versions are recorded in `<schema>.migrations`. A run holds a transaction-level
advisory lock for the schema, so workers starting together apply each migration once: the
first takes the lock and migrates, the others wait for it and then find nothing to do. All
pending migrations apply in one transaction: a failure leaves the schema as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from taskrunner.backend.migration_files import migration_files
from taskrunner_postgres.queries import PACKAGE, Queries, read_resource, render
from taskrunner_postgres.settings import PostgresSettings

if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    filename: str

    def sql(self, settings: PostgresSettings) -> str:
        """The migration's statements for `settings.schema`."""
        return render(read_resource("migrations", self.filename), settings)


def known_migrations() -> list[Migration]:
    """Every migration shipped with this package, oldest first."""
    return [Migration(*shipped) for shipped in migration_files(PACKAGE)]


async def applied_versions(
    conn: Connection, queries: Queries, settings: PostgresSettings
) -> set[int]:
    """The versions recorded in the schema (empty if it was never migrated)."""
    exists = await conn.fetchval(queries.migrations_exists, f'"{settings.schema}".migrations')
    if not exists:
        return set()
    return {row[0] for row in await conn.fetch(queries.migrations_applied)}


async def pending_migrations(
    conn: Connection, queries: Queries, settings: PostgresSettings
) -> list[Migration]:
    """The shipped migrations the schema lacks."""
    done = await applied_versions(conn, queries, settings)
    return [m for m in known_migrations() if m.version not in done]


async def apply_migrations(
    conn: Connection, queries: Queries, settings: PostgresSettings
) -> list[Migration]:
    """Apply pending migrations under the schema's migration lock; answers those applied."""
    if not await pending_migrations(conn, queries, settings):
        return []
    async with conn.transaction():
        await conn.execute(queries.migrations_lock, settings.schema)
        await conn.execute(queries.migrations_create)
        done = {row[0] for row in await conn.fetch(queries.migrations_applied)}
        applied = []
        for migration in known_migrations():
            if migration.version in done:
                continue
            await conn.execute(migration.sql(settings))
            await conn.execute(queries.migrations_record, migration.version, migration.name)
            applied.append(migration)
    return applied
