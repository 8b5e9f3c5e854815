"""Batches on Postgres (see `taskrunner.backend.Batches`): a `batches` row per batch whose
total, finished counts and callbacks the jobs' triggers keep (migrations/0008_batches.sql,
0012_cheaper_batches_and_holds.sql; reads count the unfinished members from the jobs);
here, the statements that open, close, read and cancel them, and the enqueue of members."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from taskrunner.backend import BatchRecord, JobState, NewBatch, NewJob
from taskrunner.errors import BatchNotOpen
from taskrunner_postgres.records import canonical_id, enqueue_arguments
from taskrunner_postgres.store import PostgresStore

if TYPE_CHECKING:
    from taskrunner_postgres.listen import Listener
    from taskrunner_postgres.queries import Queries

T = TypeVar("T")
BATCH_NOT_OPEN = "TRB01"  # the SQLSTATE of a member stored into a batch that is not open
NOT_STARTED = ["queued", "scheduled"]  # the states of members a batch's cancel cancels
DUE_COLUMN = 15  # in a row of sql/batch_record.sql: scheduled members already due
# the states a batch counts its members in (sql/batch_record.sql's columns, in JobState's
# order): a member never waits (the core refuses `after` on it)
MEMBER_STATES = [state for state in JobState if state is not JobState.WAITING]


async def enqueue_members(
    target: Any, jobs: Sequence[NewJob], enqueue: Callable[[Any, Sequence[NewJob]], Awaitable[T]]
) -> T:
    """Run `enqueue(target, jobs)`, which stores batch members, as one transaction (a
    savepoint in the caller's): a batch that is not open stores nothing of it and raises
    `BatchNotOpen`. An enqueue may take several statements (keys, windows)."""
    try:
        async with target.transaction():
            return await enqueue(target, jobs)
    except asyncpg.PostgresError as exc:
        if getattr(exc, "sqlstate", None) == BATCH_NOT_OPEN:
            raise BatchNotOpen(str(exc)) from None
        raise


def batch_record(row: Any) -> BatchRecord:
    """A BatchRecord from a row of `sql/batch_record.sql`'s columns. A scheduled member
    that is due counts as queued, as a read of the job itself tells it."""
    due = row[DUE_COLUMN]
    counts = dict.fromkeys(JobState, 0)
    counts.update(zip(MEMBER_STATES, row[4:10], strict=True))
    counts[JobState.QUEUED] += due
    counts[JobState.SCHEDULED] -= due
    return BatchRecord(
        id=row[0],
        created_at=row[1],
        closed=row[2],
        total=row[3],
        counts=counts,
        on_success=row[10],
        on_complete=row[11],
        success_fired=row[12],
        complete_fired=row[13],
        ended_at=row[14],
    )


def callback_arguments(batch: NewBatch) -> list[list[Any]]:
    """The kinds and column arrays of the batch's callbacks, as `sql/open_batch.sql` takes."""
    kinds = [("success", batch.on_success), ("complete", batch.on_complete)]
    given = [(kind, job) for kind, job in kinds if job is not None]
    columns = enqueue_arguments([job for _, job in given], keyed=True, windowed=True, waits=False)
    return [[kind for kind, _ in given], *columns]


class PostgresBatches:
    """The `Batches` ability of `PostgresBackend`, on its store, queries and listener."""

    _queries: Queries
    _store: PostgresStore
    _listener: Listener

    async def cancel_in(
        self, ids: Sequence[str], ttl: float | None, states: list[str]
    ) -> list[JobState | None]:
        raise NotImplementedError  # PostgresBackend's

    async def open_batch(self, batch: NewBatch) -> None:
        await self._store.fetch(
            "opening a batch",
            self._queries.open_batch,
            batch.id,
            *callback_arguments(batch),
            again=True,
        )

    async def close_batch(self, batch_id: str, ttl: float | None) -> BatchRecord | None:
        canonical = canonical_id(batch_id)
        if canonical is None:
            return None
        rows = await self._store.fetch(
            "closing a batch",
            self._queries.close_batch,
            canonical,
            None if ttl is None else float(ttl),
            again=True,
        )
        return batch_record(rows[0]) if rows else None

    async def get_batches(self, ids: Sequence[str]) -> list[BatchRecord | None]:
        wanted = [canonical_id(batch_id) for batch_id in ids]
        valid = [batch_id for batch_id in wanted if batch_id is not None]
        if not valid:
            return [None] * len(ids)
        rows = await self._store.fetch(
            "reading batches", self._queries.get_batches, valid, again=True
        )
        found = {row[0]: batch_record(row) for row in rows}
        return [None if batch_id is None else found.get(batch_id) for batch_id in wanted]

    async def list_batches(self, limit: int, before: str | None = None) -> list[BatchRecord]:
        older = None if before is None else canonical_id(before)
        if limit <= 0 or (before is not None and older is None):
            return []
        rows = await self._store.fetch(
            "listing batches", self._queries.list_batches, limit, older, again=True
        )
        return [batch_record(row) for row in rows]

    async def batch_members(self, batch_id: str, limit: int, after: str | None = None) -> list[str]:
        canonical = canonical_id(batch_id)
        later = None if after is None else canonical_id(after)
        if canonical is None or limit <= 0:
            return []
        rows = await self._store.fetch(
            "listing a batch's members",
            self._queries.batch_members,
            canonical,
            limit,
            later,
            again=True,
        )
        return [row[0] for row in rows]

    async def wait_batch(self, batch_id: str, timeout: float) -> BatchRecord | None:
        canonical = canonical_id(batch_id)
        if canonical is None:
            return None

        async def check() -> tuple[bool, BatchRecord | None]:
            (record,) = await self.get_batches([canonical])
            if record is None:
                return True, None
            return record.ended_at is not None, record

        return await self._listener.wait_finished(canonical, timeout, check)

    async def cancel_batch(self, batch_id: str, ttl: float | None) -> int:
        canonical = canonical_id(batch_id)
        if canonical is None:
            return 0
        rows = await self._store.fetch(
            "reading a batch's members", self._queries.batch_waiting, canonical, again=True
        )
        states = await self.cancel_in([row[0] for row in rows], ttl, NOT_STARTED)
        return sum(state is JobState.CANCELLED for state in states)
