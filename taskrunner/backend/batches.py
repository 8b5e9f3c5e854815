"""An optional ability of a backend: batches of jobs with callbacks (`Batches`).

A batch is opened, gets members (jobs enqueued with `NewJob.batch_id`), and is closed. Once
closed, the first time every member has ended the backend stores its `on_complete` job, and
the first time every member has succeeded its `on_success` job: each exactly once, in the
same atomic step as the member's change that made it so, whatever crashes around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from taskrunner.backend.records import BatchRecord, NewBatch


@runtime_checkable
class Batches(Protocol):
    """Batches kept by the backend. The rules every backend holds:

    - `enqueue` of a job with a `batch_id` stores it as a member of that batch, which must be
      open: otherwise the whole enqueue raises `BatchNotOpen` and stores nothing. A job that
      is not stored (its dedup key or id is taken) is no member and counts nowhere.
    - A batch's `counts` follow its members' states in the same atomic step as each change
      (enqueue, claim, finish, cancel, retry, reclaim), so they never drift; deleting a
      finished member (retention, purge) leaves them as they are.
    - Callbacks fire only once the batch is closed: `on_complete` the first time no member
      is queued, scheduled or running; `on_success` the first time every member succeeded
      (also later, after a failed member was retried by hand and succeeded). Each is stored
      at most once, as any `NewJob` is (on its own queue); a closed batch without members
      fires both at its close.
    - A batch's record is kept `ttl` seconds (given at close) after its last member ended;
      then every read treats it as gone.
    """

    async def open_batch(self, batch: NewBatch) -> None:
        """Store an open batch without members (an id stored already: nothing changes)."""

    async def close_batch(self, batch_id: str, ttl: float | None) -> BatchRecord | None:
        """Close the batch (no more members), firing its callbacks if its members have all
        ended; `ttl` is how long its record is kept after that (None: until purged).
        Closing a closed batch changes nothing. None for an unknown batch."""

    async def get_batches(self, ids: Sequence[str]) -> list[BatchRecord | None]:
        """The batches' records, None for unknown ids and those whose retention ended."""

    async def list_batches(self, limit: int, before: str | None = None) -> list[BatchRecord]:
        """Up to `limit` batches, newest first; `before` a batch id: only older ones."""

    async def batch_members(self, batch_id: str, limit: int, after: str | None = None) -> list[str]:
        """Up to `limit` ids of the batch's members in the order they were stored; `after` a
        member id: only later ones."""

    async def wait_batch(self, batch_id: str, timeout: float) -> BatchRecord | None:
        """The batch's record once it is closed and every member has ended, or None if that
        does not happen within `timeout` seconds (or the batch is unknown)."""

    async def cancel_batch(self, batch_id: str, ttl: float | None) -> int:
        """Cancel the members not started yet (queued or scheduled), each kept `ttl`
        seconds; running ones go on. Answers how many were cancelled."""
