"""Jobs that wait for other jobs (`task.options(after=[...])`), on the core's side: reading
the jobs given to `after=`, saying what a waiting job waits on, and handing a dependent its
dependencies' results. The backend keeps the waiting itself (`taskrunner.backend.Dependencies`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from taskrunner._serialization import decode_result
from taskrunner.backend import Backend, Dependencies, JobRecord, JobState, NewJob
from taskrunner.errors import ConfigurationError, DependencyNotFound, JobNotFound
from taskrunner.handle import Job
from taskrunner.job import JobInfo
from taskrunner.policy import result_ttl

MAX_DEPENDENCIES = 1000  # jobs one job may wait on

Fetch = Callable[[Sequence[str]], Awaitable[list[JobRecord | None]]]


def dependency_ids(after: Iterable[Job[Any] | JobInfo | str]) -> tuple[str, ...]:
    """The ids of the jobs given to `after=` (`Job` handles, `JobInfo`s or id strings), in
    order, each once. A string that is no job id cannot be stored: `DependencyNotFound`."""
    if isinstance(after, str | bytes | Job | JobInfo):
        raise ConfigurationError(
            f"after= takes a list of jobs or job ids, not one: after=[{after!r}]"
        )
    ids: dict[str, None] = {}
    for item in after:
        if isinstance(item, Job | JobInfo):
            ids[item.id] = None
        elif isinstance(item, str):
            ids[_canonical(item)] = None
        else:
            raise ConfigurationError(
                f"after= takes jobs (what enqueue returns) or job ids, not {item!r}"
            )
    if len(ids) > MAX_DEPENDENCIES:
        raise ConfigurationError(
            f"a job may wait on at most {MAX_DEPENDENCIES} jobs, got {len(ids)}; "
            "wait on a batch's callback instead"
        )
    return tuple(ids)


def waiting_jobs(
    backend: Backend, jobs: list[NewJob], task_ttls: Sequence[float | None], default: float | None
) -> list[NewJob]:
    """The jobs to store, those with `after` given how long their record is kept if a
    dependency cancels them (their task's `result_ttl`, else the runner's `default`), once
    checked: the backend must keep dependencies, and a batch's member cannot wait."""
    if not isinstance(backend, Dependencies):
        raise ConfigurationError(
            f"{type(backend).__name__} cannot make a job wait for others (after=): it lacks "
            "the Dependencies ability"
        )
    for job in jobs:
        if job.after and job.batch_id is not None:
            raise ConfigurationError(
                f"a batch's member cannot wait for other jobs (task {job.task!r}); enqueue "
                "the jobs it waits on first, or wait on the batch's on_complete callback"
            )
    return [
        dataclasses.replace(job, after_ttl=result_ttl(ttl, False, default)) if job.after else job
        for job, ttl in zip(jobs, task_ttls, strict=True)
    ]


def _canonical(job_id: str) -> str:
    try:
        parsed = uuid.UUID(job_id)
    except ValueError:
        raise DependencyNotFound(job_id) from None
    return str(parsed)


def unmet(record: JobRecord, dependencies: Sequence[JobRecord | None]) -> list[str]:
    """The ids of the dependencies of a waiting job that it still waits on: those not
    ended (a record gone counts as ended: the backend judged it when it ended)."""
    return [
        job_id
        for job_id, dependency in zip(record.after, dependencies, strict=True)
        if dependency is not None and not dependency.state.finished
    ]


async def results_of(fetch: Fetch, after: Sequence[str]) -> dict[str, Any]:
    """The results of the dependencies in `after` that succeeded, by id, in `after`'s
    order. A dependency whose record is gone (its retention ended) raises `JobNotFound`."""
    records = await fetch(after)
    results: dict[str, Any] = {}
    for job_id, record in zip(after, records, strict=True):
        if record is None:
            raise JobNotFound(
                f"dependency {job_id} is no longer stored (its record's retention ended), "
                "so its result is gone; keep results longer with result_ttl="
            )
        if record.state is JobState.SUCCEEDED:
            results[job_id] = None if record.result is None else decode_result(record.result)
    return results
