"""Deleting single finished jobs on Postgres (see `JobDeletion`): one DELETE statement
(sql/delete.sql), as purge deletes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from taskrunner.backend import JobDeletion
from taskrunner_postgres.queries import Queries
from taskrunner_postgres.records import canonical_id
from taskrunner_postgres.store import PostgresStore


class PostgresDeletion:
    """Deleting finished jobs by id, on the same `PostgresStore` as the backend."""

    _queries: Queries
    _store: PostgresStore

    async def delete(self, ids: Sequence[str]) -> list[bool]:
        wanted = [canonical_id(job_id) for job_id in ids]
        valid = [job_id for job_id in wanted if job_id is not None]
        if not valid:
            return [False] * len(ids)
        rows = await self._store.fetch("deleting jobs", self._queries.delete, valid)
        deleted = {row[0] for row in rows}
        return [job_id in deleted for job_id in wanted]


if TYPE_CHECKING:
    _deletes: type[JobDeletion] = PostgresDeletion
