"""Deleting single finished jobs on Postgres (see `JobDeletion`): one DELETE statement
(sql/delete.sql), as purge deletes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from taskrunner.backend import JobDeletion
from taskrunner_postgres.queries import Queries
from taskrunner_postgres.store import PostgresStore


class PostgresDeletion:
    """Deleting finished jobs by id, on the same `PostgresStore` as the backend."""

    _queries: Queries
    _store: PostgresStore

    async def delete(self, ids: Sequence[str]) -> list[bool]:
        return await self._store.answered("deleting jobs", self._queries.delete, ids)


if TYPE_CHECKING:
    _deletes: type[JobDeletion] = PostgresDeletion
