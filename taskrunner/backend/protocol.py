"""The backend boundary: a small batch-first protocol of atomic primitives.

Policy (retries, backoff, schedules, timeouts) lives in the core. A backend stores jobs,
hands out leases and applies state changes atomically, judging every time on its own clock.
Payloads, results, errors and progress are opaque bytes to it.

The records it takes and answers live in `taskrunner.backend.records`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from taskrunner.backend.records import Beat, JobRecord, JobState, LeaseStatus, NewJob, Outcome
from taskrunner.errors import ConfigurationError


@runtime_checkable
class Backend(Protocol):
    """Storage and atomic state changes for jobs. Every method takes and returns batches."""

    async def connect(self) -> None:
        """Open connections; called once before any other method."""

    async def close(self) -> None:
        """Release connections. The backend is not used afterwards."""

    async def now(self) -> float:
        """The backend's clock, in seconds since the epoch."""

    async def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[str]:
        """Store new jobs atomically. A `key` is unique within its queue: a job whose `key`
        is held by a stored job of the same queue (or by an earlier job of the same batch on
        that queue) is not stored, and its slot in the answer holds the id of the job that
        holds the key; the same key on another queue does not conflict. A record whose
        retention has ended holds no key: the new job takes its place. A job whose id is
        stored already is left as it is and answers its own id.

        A job with a `key_ttl` holds its key in a dedup window instead: for exactly `key_ttl`
        seconds after its enqueue (on the backend's clock), whatever becomes of the job or
        its record. While the window of (queue, key) is open, a job with that key and a
        `key_ttl` is not stored and answers the id of the job that opened it (even if that
        job finished, was purged or its record expired); once it has closed, the next such
        job is stored and opens a new one, though the first may still wait or run. The check
        and the opening are one atomic step: of racing enqueues, exactly one is stored. A
        windowed key is not kept on the job's record (its `key` reads None), and windows and
        keys held by records are apart: a job without `key_ttl` never meets a window.

        `connection` is the caller's own database connection, for backends that can store
        jobs inside the caller's transaction; others raise ConfigurationError if it is given.
        The core passes it only to backends that are `TransactionalEnqueue`, through
        `enqueue_in_transaction`, and calls this method with the jobs alone.
        """

    async def claim(
        self, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        """Take up to `limit` due jobs from `queues`, lowest priority number first, then
        earliest due, then first enqueued. Each gets `attempt + 1`, state running, and a
        lease of `lease` seconds.

        Flow control (see `NewJob`) is judged here, atomically with the claim, across every
        client of the store, on the backend's clock, with the numbers carried by the job
        being claimed:

        - A job with a `limit_key` is taken only while fewer than its `limit_max` jobs of its
          queue with that limit key are running. A running job holds its slot until its
          attempt ends (any outcome that `finish` accepts) or `reclaim` puts it back.
        - A job with a `rate_key` is taken only while fewer than its `rate_max` attempts of
          its queue's jobs with that rate key started in the last `rate_per` seconds (a
          sliding window over the starts: every start counts, retries included).
        - A job that may not be taken stays queued with its attempt unchanged, and does not
          hold back the jobs behind it: the claim goes on with the next (no head-of-line
          blocking, however many such jobs wait). Its record's `held` says why, from the
          claim that set it aside until a claim takes it. Among held jobs of one key, the
          order above still decides which runs first once the key frees.
        """

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        """Extend the leases of attempts that still own their job; store reported progress."""

    async def finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply each outcome if its attempt still owns the job; False where it does not."""

    async def get(self, ids: Sequence[str]) -> list[JobRecord | None]:
        """The stored records, None for unknown ids and for records whose retention has
        ended (as every read here treats them)."""

    async def cancel(self, ids: Sequence[str], ttl: float | None) -> list[JobState | None]:
        """Cancel queued or scheduled jobs at once; flag running ones for their worker.
        Answers each job's state afterwards (None for unknown ids)."""

    async def retry(self, ids: Sequence[str]) -> list[bool]:
        """Make failed or cancelled jobs due now with one more attempt allowed, and scheduled
        jobs due now. False for jobs in any other state or unknown."""

    async def reclaim(self) -> list[str]:
        """Put running jobs whose lease expired back in their queue, and drop records whose
        retention has ended. Answers the ids put back."""

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Return when a job may have become due on `queues`, or after `timeout` seconds.
        A held job (see `claim`) counts as due again once a slot of its limit key frees
        (through any client) or its rate window opens; until then it wakes nobody."""

    async def wait_finished(self, job_id: str, timeout: float) -> JobRecord | None:
        """The job's record once it is finished, or None if it is not within `timeout`."""

    async def stats(self, queues: Sequence[str] | None = None) -> dict[str, dict[JobState, int]]:
        """Per queue, how many stored jobs are in each state."""

    async def purge(
        self,
        states: Sequence[JobState],
        finished_before: float | None = None,
        queue: str | None = None,
    ) -> int:
        """Delete jobs in finished `states` (optionally only those finished before a time, or
        in one queue). Answers how many were deleted."""


@runtime_checkable
class CancelSignals(Protocol):
    """An optional ability: telling workers at once that a running job was asked to stop.

    Without it, a worker learns of a cancel request at its next heartbeat (every `lease / 3`
    seconds). A signal is only a wake-up: the worker then renews its leases at once, and the
    heartbeat's `LeaseStatus.CANCEL` is still what stops the job. So a signal may be lost (a
    listening connection that drops) or sent for a job that ended meanwhile: the regular
    heartbeat catches what was missed, and a needless beat costs one round trip.
    """

    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        """Listen for cancel requests of running jobs, made through any client of the same
        store. Once entered, the context yields an iterator of batches of job ids, each
        batch the requests recorded since the last one was read. Leaving stops listening.
        """


@runtime_checkable
class ClaimingWait(Protocol):
    """An optional ability: an idle worker's wait that claims as it ends, sparing the worker
    the round trip of a claim after a wake-up. The claim made so runs on the backend for a
    worker that may have stopped meanwhile, so the backend bounds it: it takes a job only
    within a small share of `lease` after the wait began (a worker frozen while idle must
    not take the job rescued from it), and `call_off` ends a wait at once, its answer
    still read and handed back, so that no job it took is left claimed for nobody."""

    def claims_on_wake(self, queues: Sequence[str]) -> bool:
        """Whether a wait on `queues` can claim (else the worker uses `wait`)."""

    async def wait_claiming(
        self, queues: Sequence[str], timeout: float, limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        """`wait(queues, timeout)`, then claim as `claim(queues, limit, worker, lease)`
        would, possibly fewer: the jobs claimed so (the worker runs them); [] when none
        were (the worker then claims)."""

    def call_off(self, worker: str) -> None:
        """End `worker`'s `wait_claiming` soon (its answer may still carry jobs), and make
        any it calls later return [] at once: called by a worker as it stops."""


@runtime_checkable
class TransactionalEnqueue(Protocol):
    """An optional ability: storing jobs inside the caller's own open transaction, so that
    they exist only if it commits. `TaskRunner.enqueue_many(..., connection=...)` needs it
    and raises ConfigurationError for a backend without it."""

    async def enqueue_in_transaction(self, jobs: Sequence[NewJob], connection: Any) -> list[str]:
        """Store new jobs as `Backend.enqueue` does, on `connection` (the caller's, in its
        transaction: errors of the database reach the caller untouched)."""


@runtime_checkable
class ConcurrentEnqueues(Protocol):
    """An optional hint: how many shared enqueue calls (see `taskrunner._coalesce`) the core
    may have in flight on the backend at once; 1 for a backend without it. Worth more than 1
    where a call mostly waits on something other than the server's CPU (a commit's flush to
    disk) and the calls do not queue behind each other there."""

    enqueue_lanes: int


def enqueue_lanes(backend: Backend) -> int:
    """How many shared enqueue calls may be in flight on `backend` at once."""
    return backend.enqueue_lanes if isinstance(backend, ConcurrentEnqueues) else 1


def enqueuer(
    backend: Backend, connection: Any = None
) -> Callable[[Sequence[NewJob]], Awaitable[list[str]]]:
    """How the core stores jobs on `backend`: its `enqueue`, or given the caller's
    `connection`, its `enqueue_in_transaction` (ConfigurationError for a backend that is not
    `TransactionalEnqueue`)."""
    if connection is None:
        return backend.enqueue
    if not isinstance(backend, TransactionalEnqueue):
        raise ConfigurationError(
            f"{type(backend).__name__} cannot enqueue inside a caller's transaction; "
            "connection= works with the Postgres backend"
        )
    return lambda jobs: backend.enqueue_in_transaction(jobs, connection)


@runtime_checkable
class QueuePausing(Protocol):
    """An optional ability: pausing queues, kept in the store. No claim, by any client of the
    store, takes a job from a paused queue (jobs already running go on); enqueues into it
    still succeed; `wait` does not count its due jobs as due. A queue with no jobs can be
    paused. Both changes are idempotent; resuming wakes the workers waiting on the queue as
    an enqueue does. `TaskRunner.pause` needs it and raises ConfigurationError without it."""

    async def pause(self, queues: Sequence[str]) -> None:
        """Pause the queues (those paused already stay so)."""

    async def resume(self, queues: Sequence[str]) -> None:
        """Resume the queues (those not paused stay so) and wake their waiting workers."""

    async def paused(self) -> list[str]:
        """The names of the paused queues, sorted."""


@runtime_checkable
class JobDeletion(Protocol):
    """An optional ability: deleting single jobs by id. Only finished jobs (succeeded,
    failed, cancelled) are deleted, each in one atomic step, as `purge` deletes them: a job
    that may still run is cancelled first (`cancel`), which also settles what waits on it.
    A record past its retention counts as gone."""

    async def delete(self, ids: Sequence[str]) -> list[bool]:
        """Delete the finished jobs among `ids`; per id, whether it was deleted (False for
        unknown ids and for jobs not finished)."""


@runtime_checkable
class Migrations(Protocol):
    """An optional ability: a schema that is migrated. `connect()` may apply pending
    migrations itself; `taskrunner migrate` applies them on demand (a release step)."""

    async def migrate(self) -> list[str]:
        """Apply pending migrations now; answers their names (empty: already up to date)."""


@runtime_checkable
class HasUrl(Protocol):
    """An optional ability: the URL the backend was made from, which a runner given the
    backend object shows (redacted) and passes to worker processes."""

    url: str
