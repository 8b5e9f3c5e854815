"""The pages: overview (queues, chart, workers), job lists, one job, search, schedules."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from taskrunner._present import seconds
from taskrunner.backend import Inspection, JobState
from taskrunner.dashboard.context import View, route_path
from taskrunner.dashboard.search import ID_PREFIX, Search, find_jobs, valid_job_id
from taskrunner.dashboard.timeline import timeline
from taskrunner.errors import JobNotFound, TaskrunnerError
from taskrunner.job import JobInfo, utc_time
from taskrunner.stats import QueueStats

PAGE_SIZE = 50
STATES = [state.value for state in JobState]


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue as the overview's table shows it."""

    name: str
    paused: bool
    counts: dict[str, int]
    per_minute: str
    failing: str
    p50: str
    p95: str
    oldest: str

    @classmethod
    def of(cls, name: str, queue: QueueStats) -> QueueRow:
        return cls(
            name=name,
            paused=queue.paused,
            counts={state.value: queue.get(state, 0) for state in JobState},
            per_minute="-" if queue.throughput is None else f"{queue.throughput * 60:.1f}",
            failing="-" if queue.failure_rate is None else f"{queue.failure_rate:.0%}",
            p50=seconds(queue.runtime_p50),
            p95=seconds(queue.runtime_p95),
            oldest=seconds(queue.oldest_queued_age),
        )


async def overview(view: View) -> Response:
    stats = await view.runner.stats()
    failures = None
    if isinstance(view.runner.backend, Inspection):
        failures = (await view.runner.list_jobs(state=JobState.FAILED, limit=5)).jobs
    return view.page(
        "overview.html",
        "Overview",
        stats_url=view.url("/api/stats"),
        states=STATES,
        queues=[QueueRow.of(name, queue) for name, queue in sorted(stats.items())],
        workers=stats.workers,
        failures=failures,
        here=route_path(view.request),
    )


async def jobs(view: View) -> Response:
    try:
        search = Search.from_query(view.request.query_params)
        found = await find_jobs(view.runner, search, PAGE_SIZE)
    except TaskrunnerError as exc:
        return view.message("Cannot list jobs", str(exc), 400)
    older = view.url("/jobs", **search.query(before=found.next)) if found.next else None
    return view.page(
        "jobs.html",
        "Failed jobs" if search.state == "failed" else "Jobs",
        states=STATES,
        search=search,
        tasks=sorted(view.runner.tasks),
        jobs=found.jobs,
        looked=found.looked,
        older=older,
        here=route_path(view.request),
    )


async def job(view: View) -> Response:
    job_id = str(view.request.path_params["job_id"])
    info = await find(view, job_id)
    if info is None:
        return view.message("No such job", f"No job has the id {job_id}.", 404)
    now = utc_time(await view.runner.backend.now())
    return view.page(
        "job.html",
        f"Job {info.id}",
        job=info,
        bars=timeline(info, now),
        # without the task's code no positional value can be told safe: all are masked
        arguments_hidden=bool(info.args) and info.task not in view.runner.tasks,
    )


async def find(view: View, job_id: str) -> JobInfo | None:
    """The job, as the dashboard may show it (see `View.shown`), or None."""
    if not valid_job_id(job_id):
        return None
    try:
        return view.shown(await view.runner.get_job(job_id))
    except JobNotFound:
        return None


async def search(view: View) -> Response:
    """The header's box: a job id opens its page, the start of one lists the jobs it fits."""
    job_id = (view.request.query_params.get("id") or "").strip()
    if await find(view, job_id) is not None:
        return view.redirect(f"/jobs/{job_id}")
    if ID_PREFIX.fullmatch(job_id.lower()):
        return view.redirect("/jobs", id=job_id.lower())
    return view.message("No such job", f"No job has the id {job_id!r}.", 404)
