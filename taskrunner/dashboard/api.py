"""JSON for the page's polling script and for scripts: stats with a per-minute series, jobs."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from taskrunner._present import job_dict, stats_dict
from taskrunner.backend import AttemptOutcome, Inspection, QueueActivity, redact
from taskrunner.backend.inspection import MINUTES_KEPT
from taskrunner.dashboard.context import View
from taskrunner.dashboard.pages import PAGE_SIZE, find
from taskrunner.dashboard.search import Search, find_jobs
from taskrunner.errors import TaskrunnerError

_FAILED = (AttemptOutcome.FAILED, AttemptOutcome.RETRY, AttemptOutcome.LOST)


def minute_series(activity: dict[str, QueueActivity], now: float) -> dict[str, list[int]]:
    """Attempts that ended in each of the last MINUTES_KEPT minutes (the last one is the
    minute under way), over all queues: succeeded, and failed (including retried and lost)."""
    last = int(now // 60)
    minutes = list(range(last - MINUTES_KEPT + 1, last + 1))
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
