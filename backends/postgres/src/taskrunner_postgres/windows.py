"""Enqueues with dedup windows (`NewJob.key_ttl`): the windowed jobs of a batch go through
`sql/enqueue_window.sql`, the others as they would without them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from taskrunner.backend import NewJob
from taskrunner_postgres.queries import Queries
from taskrunner_postgres.records import enqueue_arguments


async def enqueue_windowed(
    target: Any,
    jobs: Sequence[NewJob],
    queries: Queries,
    others: Callable[[Any, Sequence[NewJob]], Awaitable[list[str]]],
) -> list[str]:
    """Store `jobs` on `target` (a connection), some of which open dedup windows; `others`
    stores the rest. Answers each job's id, or the id of the job holding its key or window."""
    windowed = [i for i, job in enumerate(jobs) if job.key is not None and job.key_ttl]
    rest = [i for i, job in enumerate(jobs) if job.key is None or not job.key_ttl]
    ids = [""] * len(jobs)
    arguments = enqueue_arguments([jobs[i] for i in windowed], keyed=True, windowed=True)
    rows = await target.fetch(queries.enqueue_window, *arguments)
    for i, (holder,) in zip(windowed, rows, strict=True):
        ids[i] = holder
    if rest:
        for i, holder in zip(rest, await others(target, [jobs[i] for i in rest]), strict=True):
            ids[i] = holder
    return ids
