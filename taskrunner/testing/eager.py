"""Eager mode: while it is on, an enqueue also runs the job, before it returns.

The job is enqueued for real first (the task's argument check, JSON encoding, payload
limit, dedup key: everything an enqueue does), then a burst worker runs it (claim, decode,
call, encode the result, report), so a call that would fail for real fails here too.
Eager mode sets the runner's private hook that `enqueue_many` (the one door every enqueue
of a task, a batch or a recurring tick goes through) awaits with the jobs it stored, on
that runner object only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from taskrunner.backend import JobState
from taskrunner.errors import ConfigurationError, JobFailed
from taskrunner.handle import Job
from taskrunner.runner import TaskRunner
from taskrunner.testing.drain import DEFAULT_LIMIT, DrainSession
from taskrunner.testing.report import DrainReport
from taskrunner.testing.stored import waits_to_retry

# set while eager mode runs jobs: an enqueue from one of them leaves its jobs to that run
_running_eagerly: ContextVar[bool] = ContextVar("taskrunner_running_eagerly", default=False)


@asynccontextmanager
async def eager(
    runner: TaskRunner, *, propagate: bool = True, limit: int | None = DEFAULT_LIMIT
) -> AsyncIterator[TaskRunner]:
    """`async with eager(runner): ...`: in the block, each enqueue on `runner` runs the
    jobs it stored before returning, with every job they make due (jobs they enqueue,
    dependents), each to its end: a retry runs at once instead of waiting for its backoff.
    A job due later (`delay=`, `at=`) or snoozed stays scheduled, as does a batch's
    callback (enqueued when the batch closes, not by an enqueue): `drain` or `advance`
    runs those. A job enqueued by a running job runs in the same go, next, not inside
    the enqueue that stored it.

    With `propagate` (the default), a job that fails for good makes the enqueue raise
    `JobFailed`, as `await job.result()` would, its traceback in the error's notes. The
    runner's startup hooks run once, when the block starts. `limit` bounds the attempts of
    one enqueue, as for `drain`.
    """
    if runner._enqueued_hook is not None:
        raise ConfigurationError(f"{runner!r} is in eager mode already")

    async def run_them(jobs: list[Job[Any]]) -> None:
        if not _running_eagerly.get():  # else the drain running this job runs them next
            await run_at_once(runner, [job.id for job in jobs], propagate=propagate, limit=limit)

    runner._enqueued_hook = run_them
    try:
        await runner.connect()
        await runner.start_resources()
        try:
            yield runner
        finally:
            await runner.stop_resources()
    finally:
        runner._enqueued_hook = None


async def run_at_once(
    runner: TaskRunner, job_ids: Sequence[str], *, propagate: bool, limit: int | None
) -> DrainReport:
    """Run the jobs `job_ids` now, if one of them is due, with whatever else is due, each
    to its end; a retry waiting for its backoff is run at once."""
    infos = await runner.get_jobs(job_ids)
    if not any(info is not None and info.state is JobState.QUEUED for info in infos):
        return DrainReport()  # due later, waiting on other jobs, or a duplicate
    running = _running_eagerly.set(True)  # seen by the tasks of the jobs started here
    try:
        async with DrainSession(runner, limit, {}) as session:
            while True:
                await session.run_due()
                retrying = await _retries_waiting(runner, [*job_ids, *session.report.job_ids])
                if not retrying:
                    break
                for job_id in retrying:
                    await runner.retry(job_id)  # a scheduled job: due now
    finally:
        _running_eagerly.reset(running)
    if propagate:
        await _raise_a_failure(runner, session.report.job_ids)
    return session.report


async def _retries_waiting(runner: TaskRunner, job_ids: Sequence[str]) -> list[str]:
    """The jobs among `job_ids` whose last attempt failed and that wait for their retry."""
    infos = await runner.get_jobs(list(dict.fromkeys(job_ids)))
    return [info.id for info in infos if info is not None and waits_to_retry(info)]


async def _raise_a_failure(runner: TaskRunner, job_ids: Sequence[str]) -> None:
    """Raise `JobFailed` for the first of the jobs that failed for good, if one did."""
    for info in await runner.get_jobs(job_ids):
        if info is not None and info.state is JobState.FAILED:
            failed = JobFailed(info.id, info.state.value, info.error)
            if info.error is not None and info.error.traceback:
                failed.add_note(f"the task's traceback ({info.task}):\n{info.error.traceback}")
            raise failed
