"""An optional ability of a backend: jobs that wait for other jobs (`Dependencies`).

A job stored with `NewJob.after` (the ids of stored jobs) waits, in state `waiting`, until
each of them has ended; it is never claimed while it waits. The rules every backend holds:

- `enqueue` checks every id in `after` against the store: one that is not stored (never
  enqueued, purged, or its record's retention ended) makes the whole enqueue raise
  `DependencyNotFound` and store nothing.
- A dependency that has succeeded counts as met. Once all have, the job is queued (or
  scheduled, while its own due time is later), whatever became of their records meanwhile.
- A dependency that failed for good (state failed) or was cancelled cancels the waiting
  job, with the error `dependency_error` encodes (naming the first dependency seen to end
  so), kept `NewJob.after_ttl` seconds; a job cancelled this way counts as cancelled for its
  own dependents in turn. With `after_run_anyway`, any end of a dependency counts as met.
- A dependency that has ended already when the job is stored is judged at once: the job is
  stored queued (or scheduled), or cancelled.
- Each dependency is judged by its first end: retrying a failed dependency by hand does
  not bring back the jobs it cancelled. A retry outcome, a release or a lost lease is no end.
- Every change above happens exactly once, whatever crashes in between: in the same
  atomic step as the dependency's end where the store can (one database, one process), or
  else in steps that are safe to repeat, which the backend's `reclaim` completes after a
  crash (a Redis Cluster keeps each queue apart).
- A waiting job can be cancelled (`cancel` answers `cancelled`); `retry` refuses it (False).
- `stats` counts waiting jobs, and `Inspection.list_jobs` lists them under `waiting`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from taskrunner.backend.records import JobState
from taskrunner.errors import JobError

DEPENDENCY_FAILED = "DependencyFailed"  # the error type of a job cancelled by a dependency


def dependency_error(dependency: str, state: JobState) -> bytes:
    """The error kept on a job cancelled because its dependency `dependency` ended in
    `state` (failed or cancelled): `{"type": "DependencyFailed", "message": "its
    dependency <id> failed", "traceback": ""}` ("... was cancelled"), encoded as any
    `JobError` (compact JSON with the keys in this order). Backends that write it in their
    own language (SQL, Lua) must write these same bytes."""
    how = "failed" if state is JobState.FAILED else "was cancelled"
    return JobError(DEPENDENCY_FAILED, f"its dependency {dependency} {how}").encode()


@runtime_checkable
class Dependencies(Protocol):
    """Jobs that wait for others (`NewJob.after`), kept by the backend as described above.
    The core refuses `after=` on a backend without it."""

    async def dependents(self, job_id: str, limit: int = 100) -> list[str]:
        """Up to `limit` ids of the jobs still waiting on `job_id` (empty once it has ended
        and they were judged), oldest first."""
