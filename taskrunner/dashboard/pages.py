"""The pages: overview (queues, chart, workers), job lists, one job, search, schedules."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from starlette.responses import Response

from taskrunner._present import seconds
from taskrunner.backend import Inspection, JobState
from taskrunner.dashboard.context import View, empty_row, route_path
from taskrunner.dashboard.html import Html, fragment, join, render
from taskrunner.dashboard.parts import (
    JOB_HEADER,
    actions,
    as_json,
    attempt_rows,
    badge,
    error_summary,
    job_link,
    job_rows,
    traceback_block,
    when,
)
from taskrunner.errors import JobNotFound, TaskrunnerError
from taskrunner.job import JobInfo
from taskrunner.stats import Stats

JOB_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
PAGE_SIZE = 50


def valid_job_id(text: str) -> bool:
    return JOB_ID.fullmatch(text) is not None


def queue_rows(view: View, stats: Stats) -> Html:
    rows = []
    for name, queue in sorted(stats.items()):
        counts = join(
            fragment(
                '<td class="num"><a href="{}">{}</a></td>',
                view.url("/jobs", queue=name, state=state.value),
                queue.get(state, 0),
            )
            for state in JobState
        )
        rate = "-" if queue.failure_rate is None else f"{queue.failure_rate:.0%}"
        per_minute = "-" if queue.throughput is None else f"{queue.throughput * 60:.1f}"
        rows.append(
            fragment(
                '<tr><th scope="row">{}{}</th>{}<td class="num">{}</td><td class="num">{}</td>'
                '<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
                name,
                paused_mark(queue.paused),
                counts,
                per_minute,
                rate,
                seconds(queue.runtime_p50),
                seconds(queue.runtime_p95),
                seconds(queue.oldest_queued_age),
            )
        )
    return join(rows) if rows else empty_row(12, "No queues yet: nothing was enqueued.")


def paused_mark(paused: bool) -> Html:
    """The mark after a paused queue's name (the script draws the same)."""
    return fragment(' <span class="state state-paused">{}</span>', "paused") if paused else Html("")


def worker_rows(stats: Stats) -> Html:
    rows = [
        fragment(
            '<tr><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td>'
            '<td class="num">{}/{}</td><td>{}</td></tr>',
            worker.id,
            worker.hostname,
            worker.pid,
            ", ".join(worker.queues),
            worker.running,
            worker.concurrency,
            datetime.fromtimestamp(worker.last_seen, UTC).strftime("%H:%M:%S"),
        )
        for worker in stats.workers
    ]
    return join(rows) if rows else empty_row(6, "No worker is running.")


async def overview(view: View) -> Response:
    stats = await view.runner.stats()
    failed = await recent_failures(view)
    body = render(
        "overview.html",
        stats_url=view.url("/api/stats"),
        state_headers=join(fragment("<th>{}</th>", s.value) for s in JobState),
        queue_rows=queue_rows(view, stats),
        worker_rows=worker_rows(stats),
        failed_rows=failed,
        failed_url=view.url("/jobs", state="failed"),
    )
    return view.page("Overview", body)


async def recent_failures(view: View) -> Html:
    if not isinstance(view.runner.backend, Inspection):
        return empty_row(9, "This backend cannot list jobs.")
    page = await view.runner.list_jobs(state=JobState.FAILED, limit=5)
    if not page.jobs:
        return empty_row(9, "No failed jobs.")
    return job_rows(view, page.jobs, route_path(view.request), tracebacks=True)


async def jobs(view: View) -> Response:
    query = view.request.query_params
    state = query.get("state") or None
    queue = query.get("queue") or None
    task = query.get("task") or None
    before = query.get("before") or None
    if before is not None and not valid_job_id(before):
        before = None
    try:
        page = await view.runner.list_jobs(
            state=state, queue=queue, task=task, before=before, limit=PAGE_SIZE
        )
    except TaskrunnerError as exc:
        return view.message("Cannot list jobs", str(exc), 400)
    options = join(
        fragment(
            '<option value="{}"{}>{}</option>',
            value,
            Html(" selected") if value == (state or "") else "",
            value or "any state",
        )
        for value in ("", *(s.value for s in JobState))
    )
    older = (
        fragment(
            '<a class="more" href="{}">older jobs &rarr;</a>',
            view.url("/jobs", state=state, queue=queue, task=task, before=page.next),
        )
        if page.next
        else ""
    )
    rows = job_rows(view, page.jobs, route_path(view.request), tracebacks=state == "failed")
    title = "Failed jobs" if state == "failed" else "Jobs"
    body = render(
        "jobs.html",
        title=title,
        action=view.url("/jobs"),
        options=options,
        queue=queue or "",
        task=task or "",
        header=JOB_HEADER,
        rows=rows if page.jobs else empty_row(9, "No jobs match."),
        older=older,
    )
    return view.page(title, body)


async def job(view: View) -> Response:
    job_id = str(view.request.path_params["job_id"])
    info = await find(view, job_id)
    if info is None:
        return view.message("No such job", f"No job has the id {job_id}.", 404)
    progress = ""
    if info.progress is not None:
        total = "" if info.progress.total is None else f" of {info.progress.total:g}"
        progress = f"{info.progress.done:g}{total} {info.progress.message or ''}".strip()
    body = render(
        "job.html",
        id=info.id,
        state=badge(info.state.value),
        actions=actions(view, info, f"/jobs/{info.id}"),
        task=info.task,
        queue=info.queue,
        attempt=f"{info.attempt} of {info.max_attempts}",
        priority=info.priority,
        key=info.key or "\u2013",
        limit_key=info.limit_key or "\u2013",
        rate_key=info.rate_key or "\u2013",
        enqueued=when(info.enqueued_at),
        due=when(info.run_at),
        held_by="\u2013" if info.held_by is None else info.held_by.detail,
        started=when(info.started_at),
        finished=when(info.finished_at),
        worker=info.worker or "\u2013",
        cancel=" (cancel requested)" if info.cancel_requested else "",
        progress=progress or "\u2013",
        arguments=as_json({"args": info.args, "kwargs": info.kwargs}),
        arguments_note=arguments_note(view, info),
        result=as_json(info.result) if info.state is JobState.SUCCEEDED else "\u2013",
        error=error_block(info),
        attempt_rows=attempt_rows(info.attempts) or empty_row(7, "No attempt has ended yet."),
    )
    return view.page(f"Job {info.id}", body)


def arguments_note(view: View, info: JobInfo) -> Html:
    """Why positional values show as *** when the dashboard lacks the task's code."""
    if not info.args or info.task in view.runner.tasks:
        return Html("")
    return fragment(
        '<p class="note">{}</p>',
        "Positional values are hidden: without this task's code the dashboard cannot tell "
        "which of them are secrets. Start it with the app (taskrunner dashboard "
        "module.path:runner) to see them. Values named like secrets (password, token, "
        "secret, api_key...) are always hidden.",
    )


def error_block(info: JobInfo) -> Html:
    if info.error is None:
        return Html("")
    return fragment(
        '<section class="error-box"><h2>{}</h2><p>{}</p>{}</section>',
        "Error" if info.state is JobState.FAILED else "Last error",
        error_summary(info.error),
        traceback_block(info.error, open_=True),
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
    job_id = (view.request.query_params.get("id") or "").strip()
    if await find(view, job_id) is None:
        return view.message("No such job", f"No job has the id {job_id!r}.", 404)
    return view.redirect(f"/jobs/{job_id}")


async def schedules(view: View) -> Response:
    now = await view.runner.backend.now() if view.runner.tasks else time.time()
    rows = []
    for name, task in sorted(view.runner.tasks.items()):
        schedule = task.settings.schedule
        if schedule is None:
            continue
        tick = schedule.next_after(now)
        upcoming = await next_tick_job(view, name)
        rows.append(
            fragment(
                '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">in {}</td>'
                "<td>{}</td></tr>",
                name,
                task.settings.queue,
                schedule.describe(),
                when(datetime.fromtimestamp(tick, UTC)),
                seconds(tick - now),
                job_link(view, upcoming) if upcoming else "\u2013",
            )
        )
    if not view.runner.tasks:
        note = (
            "No task code is loaded, so the schedules are unknown: start the dashboard "
            "with the app (taskrunner dashboard module.path:runner)."
        )
        table_rows = empty_row(6, note)
    else:
        table_rows = join(rows) if rows else empty_row(6, "No task has a schedule.")
    return view.page("Schedules", render("schedules.html", rows=table_rows))


async def next_tick_job(view: View, task: str) -> str | None:
    """The job already enqueued for the task's coming tick, where jobs can be listed."""
    if not isinstance(view.runner.backend, Inspection):
        return None
    page = await view.runner.list_jobs(task=task, state=JobState.SCHEDULED, limit=1)
    return page.jobs[0].id if page.jobs else None
