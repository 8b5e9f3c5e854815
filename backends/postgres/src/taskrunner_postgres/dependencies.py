"""Dependencies on Postgres (see `taskrunner.backend.Dependencies`): a job stored with
`after` is judged against its dependencies' rows as it is inserted, and judged again by the
trigger of the statement that ends each of them, in that statement's transaction
(migrations/0009_dependencies.sql); here, the enqueue of such jobs and the read of a job's
dependents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from taskrunner.backend import NewJob
from taskrunner.errors import DependencyNotFound
from taskrunner_postgres.errors import missing_dependency
from taskrunner_postgres.records import canonical_id
from taskrunner_postgres.store import PostgresStore

if TYPE_CHECKING:
    from taskrunner_postgres.queries import Queries


def dependency_ids(jobs: Sequence[NewJob]) -> dict[str, str]:
    """The ids the jobs' `after` name, canonical form -> as given, in the order named;
    DependencyNotFound for one that is no UUID (no job has it)."""
    named: dict[str, str] = {}
    for job in jobs:
        for given in job.after:
            canonical = canonical_id(given)
            if canonical is None:
                raise DependencyNotFound(given)
            named.setdefault(canonical, given)
    return named


class PostgresDependencies:
    """The `Dependencies` ability of `PostgresBackend`, on its store and queries."""

    _queries: Queries
    _store: PostgresStore

    async def _enqueue_plain(self, target: Any, jobs: Sequence[NewJob]) -> list[str]:
        raise NotImplementedError  # PostgresBackend's

    async def _enqueue_checked(self, target: Any, jobs: Sequence[NewJob]) -> list[str]:
        """`_enqueue_plain(target, jobs)`, which jobs with dependencies run in one transaction
        (a savepoint in the caller's) after a statement has locked their dependencies and
        found each stored: if one is not, DependencyNotFound, and nothing is stored. The
        lock is taken in id order, before the insert's trigger takes it again row by row."""
        if not any(job.after for job in jobs):
            return await self._enqueue_plain(target, jobs)
        named = dependency_ids(jobs)
        try:
            async with target.transaction():
                missing = await target.fetchval(self._queries.lock_dependencies, list(named))
                if missing is not None:
                    raise DependencyNotFound(named.get(missing, missing))
                return await self._enqueue_plain(target, jobs)
        except asyncpg.PostgresError as exc:
            unknown = missing_dependency(exc)
            if unknown is None:
                raise
            raise DependencyNotFound(named.get(unknown, unknown)) from None

    async def dependents(self, job_id: str, limit: int = 100) -> list[str]:
        canonical = canonical_id(job_id)
        if canonical is None or limit <= 0:
            return []
        rows = await self._store.fetch(
            "listing a job's dependents", self._queries.dependents, canonical, limit, again=True
        )
        return [row[0] for row in rows]
