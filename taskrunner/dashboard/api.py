"""JSON for the page's polling script and for scripts: stats with a per-minute series, jobs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.responses import JSONResponse, Response

from taskrunner._present import job_dict, stats_dict
from taskrunner.backend import AttemptOutcome, Inspection, QueueActivity, redact
from taskrunner.backend.inspection import MINUTES_KEPT
from taskrunner.dashboard.context import View, queue_name
from taskrunner.dashboard.pages import PAGE_SIZE, find
from taskrunner.dashboard.search import Search, find_jobs
from taskrunner.errors import TaskrunnerError
from taskrunner.stats import percentile

_FAILED = (AttemptOutcome.FAILED, AttemptOutcome.RETRY, AttemptOutcome.LOST)
_ENDED = (AttemptOutcome.SUCCEEDED, *_FAILED)
WAITS_SAMPLED = 500  # a queue's newest jobs whose wait before starting its chart shows


def last_minutes(now: float) -> list[int]:
    """The last MINUTES_KEPT minutes (epoch seconds // 60), the one under way last."""
    last = int(now // 60)
    return list(range(last - MINUTES_KEPT + 1, last + 1))


def minute_series(activity: dict[str, QueueActivity], now: float) -> dict[str, list[int]]:
    """Attempts that ended in each of the last MINUTES_KEPT minutes (the last one is the
    minute under way), over the queues of `activity`: succeeded, and failed (including
    retried and lost)."""
    minutes = last_minutes(now)
    succeeded = dict.fromkeys(minutes, 0)
    failed = dict.fromkeys(minutes, 0)
    for queue in activity.values():
        for minute, by_outcome in queue.per_minute.items():
            if minute in succeeded:
                succeeded[minute] += by_outcome.get(AttemptOutcome.SUCCEEDED, 0)
                failed[minute] += sum(by_outcome.get(o, 0) for o in _FAILED)
    return {
        "minutes": [m * 60 for m in minutes],
        "succeeded": list(succeeded.values()),
        "failed": list(failed.values()),
    }


def median_per_minute(samples: Iterable[tuple[float, float]], now: float) -> list[float | None]:
    """The median of the values of `samples` (time, value) in each of the last MINUTES_KEPT
    minutes (None: no sample in that minute)."""
    by_minute: dict[int, list[float]] = {minute: [] for minute in last_minutes(now)}
    for moment, value in samples:
        if int(moment // 60) in by_minute:
            by_minute[int(moment // 60)].append(value)
    return [percentile(sorted(values), 0.5) for values in by_minute.values()]


async def queue_series(view: View, queue: str) -> dict[str, Any] | None:
    """The queue's per-minute series for its charts (None where the backend records no
    activity): attempts succeeded and failed, the median runtime (from the latest attempts
    the backend keeps), and the median wait from due to start of its newest jobs."""
    backend = view.runner.backend
    if not isinstance(backend, Inspection):
        return None
    now = await backend.now()
    activity = (await backend.activity([queue])).get(queue, QueueActivity())
    runtimes = ((ended, took) for ended, took, outcome in activity.recent if outcome in _ENDED)
    newest = (await view.runner.list_jobs(queue=queue, limit=WAITS_SAMPLED)).jobs
    waits = (
        (job.started_at.timestamp(), max(0.0, (job.started_at - job.run_at).total_seconds()))
        for job in newest
        if job.started_at is not None
    )
    return {
        **minute_series({queue: activity}, now),
        "runtime_p50": median_per_minute(runtimes, now),
        "wait_p50": median_per_minute(waits, now),
    }


async def queue(view: View) -> Response:
    """`GET /api/queues/QUEUE`: the queue's counts and per-minute series."""
    name = queue_name(view)
    if name is None:
        return JSONResponse({"error": "not a queue name"}, 404)
    report = await view.runner.stats([name])
    data = stats_dict(report)["queues"].get(name)
    return JSONResponse({"queue": name, **(data or {}), "series": await queue_series(view, name)})


async def stats(view: View) -> Response:
    runner = view.runner
    report = await runner.stats()
    backend = runner.backend
    now = await backend.now()
    data: dict[str, Any] = {"now": now, "backend": redact(runner.url), **stats_dict(report)}
    if isinstance(backend, Inspection):
        data["series"] = minute_series(await backend.activity(list(report)), now)
    else:
        data["series"] = None
    return JSONResponse(data)


async def jobs(view: View) -> Response:
    """`GET /api/jobs`: the job list's filters (state, queue, task, id, text, before)."""
    try:
        search = Search.from_query(view.request.query_params)
        found = await find_jobs(view.runner, search, PAGE_SIZE)
    except TaskrunnerError as exc:
        return JSONResponse({"error": str(exc)}, 400)
    return JSONResponse(
        {"jobs": [job_dict(j) for j in found.jobs], "next": found.next, "looked": found.looked}
    )


async def job(view: View) -> Response:
    job_id = str(view.request.path_params["job_id"])
    info = await find(view, job_id)
    if info is None:
        return JSONResponse({"error": f"no job with id {job_id!r}"}, 404)
    return JSONResponse(job_dict(info))
