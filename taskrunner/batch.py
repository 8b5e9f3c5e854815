"""Batches: many jobs with one callback when they have all succeeded (`on_success`) and one
when they have all ended (`on_complete`), stored exactly once by the backend.

`await runner.batch([...])` stores a closed batch in one call; `async with
runner.open_batch(...) as batch: await batch.add(...)` builds one over time and closes it
on leaving. Both answer a `Batch` handle: `info()`, `wait()`, `members()`, `cancel()`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from taskrunner._serialization import with_meta
from taskrunner.backend import (
    Backend,
    Batches,
    BatchRecord,
    JobState,
    NewBatch,
    NewJob,
    new_job_id,
)
from taskrunner.errors import ConfigurationError, JobNotFound, JobTimeout
from taskrunner.handle import Job
from taskrunner.job import utc_time
from taskrunner.task import PreparedJob

ADD_CHUNK = 1000  # members stored per round trip
LONGEST_WAIT = 60.0  # a wait without timeout asks the backend again this often


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """A batch as it stands: how many members it has (`total`) and how many are in each
    state (`counts`), whether it is `closed` (no more members), when its last member
    ended (`ended_at`, None while one has not), and its callbacks' job ids with whether
    each was enqueued yet."""

    id: str
    total: int
    closed: bool
    counts: dict[JobState, int]
    created_at: datetime
    ended_at: datetime | None
    on_success: str | None
    on_complete: str | None
    success_fired: bool
    complete_fired: bool

    @property
    def ended(self) -> bool:
        """True once the batch is closed and every member ended."""
        return self.ended_at is not None

    @classmethod
    def from_record(cls, record: BatchRecord) -> BatchInfo:
        return cls(
            id=record.id,
            total=record.total,
            closed=record.closed,
            counts=dict(record.counts),
            created_at=utc_time(record.created_at),
            ended_at=None if record.ended_at is None else utc_time(record.ended_at),
            on_success=record.on_success,
            on_complete=record.on_complete,
            success_fired=record.success_fired,
            complete_fired=record.complete_fired,
        )


def batches_of(backend: Backend) -> Batches:
    """`backend`, if it keeps batches; a `ConfigurationError` saying so otherwise."""
    if not isinstance(backend, Batches):
        raise ConfigurationError(f"the {type(backend).__name__} keeps no batches")
    return backend


class Batch:
    """A batch that was opened: look it up, wait for it, list or cancel its members."""

    __slots__ = ("backend", "id", "ttl")

    def __init__(self, backend: Batches, batch_id: str, ttl: float | None) -> None:
        self.backend = backend
        self.id = batch_id
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"Batch({self.id!r})"

    async def info(self) -> BatchInfo:
        """The batch as it stands now; `JobNotFound` if its record is gone."""
        (record,) = await self.backend.get_batches([self.id])
        if record is None:
            raise JobNotFound(f"no batch with id {self.id!r} (never opened, or expired)")
        return BatchInfo.from_record(record)

    async def wait(self, timeout: float | None = None) -> BatchInfo:
        """Wait until the batch is closed and every member ended, and return it; raises
        `JobTimeout` if that takes more than `timeout` seconds (None: no limit)."""
        left = math.inf if timeout is None else timeout
        while True:
            step = min(left, LONGEST_WAIT)
            record = await self.backend.wait_batch(self.id, step)
            if record is not None:
                return BatchInfo.from_record(record)
            left -= step
            if left <= 0:
                await self.info()  # JobNotFound rather than a timeout for a gone batch
                raise JobTimeout(f"batch {self.id} did not end within {timeout}s")

    async def members(self, limit: int = 1000, after: str | None = None) -> list[str]:
        """Ids of up to `limit` members in the order they were added (`after`: later ones)."""
        return await self.backend.batch_members(self.id, limit, after)

    async def cancel(self) -> int:
        """Cancel the members not started yet; answers how many. Running ones go on."""
        return await self.backend.cancel_batch(self.id, self.ttl)


class OpenBatch(Batch):
    """A batch being built: enter the `async with` block to open it, `add` members, and
    leave the block to close it (its callbacks fire only after that)."""

    __slots__ = ("closed", "new", "runner")

    def __init__(self, runner: BatchMethods, backend: Batches, new: NewBatch) -> None:
        super().__init__(backend, new.id, runner.batch_ttl())
        self.runner = runner
        self.new = new
        self.closed = False

    async def add(self, *prepared: PreparedJob[Any]) -> list[Job[Any]]:
        """Store members (calls from `task.prepare(...)`), in round trips of 1000."""
        if self.closed:
            raise ConfigurationError(f"batch {self.id} is closed: no member can join it")
        jobs: list[Job[Any]] = []
        for start in range(0, len(prepared), ADD_CHUNK):
            chunk = [as_member(p, self.id) for p in prepared[start : start + ADD_CHUNK]]
            jobs.extend(await self.runner.enqueue_many(chunk))
        return jobs

    async def close(self) -> BatchInfo:
        """Close the batch: no more members; its callbacks fire once every member ended."""
        record = await self.backend.close_batch(self.id, self.ttl)
        self.closed = True
        if record is None:
            raise JobNotFound(f"no batch with id {self.id!r} (expired?)")
        return BatchInfo.from_record(record)

    async def __aenter__(self) -> OpenBatch:
        await self.runner.connected()
        await self.backend.open_batch(self.new)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()  # also on an error: the members stored so far make the batch


class BatchMethods:
    """`TaskRunner`'s batch methods. They need its backend (`connected`), its
    `enqueue_many` and its retention (`result_ttl`, `failed_ttl`)."""

    backend: Backend
    result_ttl: float | None
    failed_ttl: float | None

    async def connected(self) -> Backend:
        raise NotImplementedError  # TaskRunner's

    async def enqueue_many(
        self, prepared: Iterable[PreparedJob[Any]], *, connection: Any = None
    ) -> list[Job[Any]]:
        raise NotImplementedError  # TaskRunner's

    def batch_ttl(self) -> float | None:
        """How long a batch's record is kept after it ended: as long as its members'."""
        if self.result_ttl is None or self.failed_ttl is None:
            return None
        return max(self.result_ttl, self.failed_ttl)

    async def batch(
        self,
        members: Iterable[PreparedJob[Any]],
        *,
        on_success: PreparedJob[Any] | None = None,
        on_complete: PreparedJob[Any] | None = None,
    ) -> Batch:
        """Store `members` (calls from `task.prepare(...)`) as a closed batch: `on_success`
        is enqueued once when every member has succeeded, `on_complete` once when every
        member has ended, whatever the outcome. Answers the batch's handle."""
        found = members_of(members)
        async with self.open_batch(on_success=on_success, on_complete=on_complete) as batch:
            await batch.add(*found)
        return batch

    def open_batch(
        self,
        *,
        on_success: PreparedJob[Any] | None = None,
        on_complete: PreparedJob[Any] | None = None,
    ) -> OpenBatch:
        """A batch to build over time: `async with runner.open_batch(...) as batch:` opens
        it, `await batch.add(...)` stores members, and leaving the block closes it."""
        return OpenBatch(self, batches_of(self.backend), new_batch(on_success, on_complete))

    async def get_batch(self, batch_id: str) -> BatchInfo:
        """The batch as it stands; `JobNotFound` for an unknown or expired id."""
        return await Batch(batches_of(await self.connected()), batch_id, None).info()

    async def find_batch(self, batch_id: str) -> Batch:
        """The handle of a batch opened earlier, from its id alone (a web page's link to
        it): `info()`, `wait()`, `members()`, `cancel()`. Nothing is read here; `info()`
        raises `JobNotFound` for an unknown or expired id."""
        return Batch(batches_of(await self.connected()), batch_id, self.batch_ttl())

    async def list_batches(self, limit: int = 50, before: str | None = None) -> list[BatchInfo]:
        """Up to `limit` batches, newest first (`before`: a batch id, for the next page)."""
        keeper = batches_of(await self.connected())
        return [BatchInfo.from_record(r) for r in await keeper.list_batches(limit, before)]


def as_member(prepared: PreparedJob[Any], batch_id: str) -> PreparedJob[Any]:
    if prepared.new.batch_id is not None:
        raise ConfigurationError("a prepared job can join one batch only")
    refuse_waiting(prepared)
    return PreparedJob(prepared.task, dataclasses.replace(prepared.new, batch_id=batch_id))


def refuse_waiting(member: PreparedJob[Any]) -> None:
    if member.new.after:
        raise ConfigurationError(
            f"a batch's member cannot wait for other jobs (task {member.task.name!r}): "
            "enqueue the jobs it waits on first, or wait on the batch's on_complete callback"
        )


def new_batch(
    on_success: PreparedJob[Any] | None, on_complete: PreparedJob[Any] | None
) -> NewBatch:
    """The batch to open; its callbacks learn their batch from their payload's meta."""
    batch_id = new_job_id()
    return NewBatch(
        batch_id, callback_job(on_success, batch_id), callback_job(on_complete, batch_id)
    )


def callback_job(prepared: PreparedJob[Any] | None, batch_id: str) -> NewJob | None:
    if prepared is None:
        return None
    if not isinstance(prepared, PreparedJob):
        raise ConfigurationError(
            f"a batch's callback is a prepared call (task.prepare(...)), not {prepared!r}"
        )
    if prepared.new.after:
        raise ConfigurationError(
            "a batch's callback waits for the batch already; it cannot wait for other jobs"
        )
    return dataclasses.replace(
        prepared.new, payload=with_meta(prepared.new.payload, batch=batch_id)
    )


def members_of(prepared: Iterable[PreparedJob[Any]]) -> Sequence[PreparedJob[Any]]:
    found = list(prepared)
    for item in found:
        if not isinstance(item, PreparedJob):
            raise ConfigurationError(
                f"a batch's members are prepared calls (task.prepare(...)), not {item!r}"
            )
        refuse_waiting(item)
    return found
