"""The commands that find jobs and look after queues: `jobs`, `job`, `pause`, `resume`,
`purge` (`retry`, `cancel` and `delete` are in `actions`).

Each takes the app (`--app module.path:runner`) or just `--url` (or TASKRUNNER_URL): none
of them needs the task code. Human output by default, `--json` for scripts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from taskrunner import _validation as validation
from taskrunner._present import job_dict, shown_job
from taskrunner.backend import Dependencies
from taskrunner.cli._app import (
    AppArg,
    AppOpt,
    JsonOpt,
    UrlOpt,
    chosen_app,
    duration,
    fail,
    print_json,
    with_runner,
)
from taskrunner.cli.render import (
    jobs_table,
    plural,
    print_job,
    short_jobs_table,
    whole_id_hint,
)
from taskrunner.errors import JobNotFound, TaskrunnerError
from taskrunner.job import JobInfo
from taskrunner.runner import TaskRunner, parse_state

WIDE_COLUMNS = 1000  # `jobs --wide` to a pipe or a file: whole lines (a table takes what it needs)


def list_jobs(
    app_path: AppArg = None,
    app_option: AppOpt = None,
    url: UrlOpt = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    task: Annotated[str | None, typer.Option(help="Only this task.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only jobs enqueued within this long, e.g. 15m or 2d.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Jobs per page.")] = 20,
    before: Annotated[str | None, typer.Option(help="Page cursor (the last id shown).")] = None,
    wide: Annotated[
        bool, typer.Option("--wide", "-w", help="Whole ids, times and errors: every column.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """List jobs, newest first.

    The end of each id and the main columns, to fit 80 columns: --wide shows every column.

    With --json, values named like secrets show as ***."""
    since_at = (
        None if since is None else datetime.now(UTC) - timedelta(seconds=duration(since, "--since"))
    )

    async def work(runner: TaskRunner) -> tuple[list[JobInfo], str | None]:
        page = await runner.list_jobs(
            queue=queue, state=state, task=task, since=since_at, limit=limit, before=before
        )
        return [shown_job(info, runner.tasks) for info in page.jobs], page.next

    jobs, after = with_runner(chosen_app(app_path, app_option), url, work)
    if json_out:
        print_json({"jobs": [job_dict(j) for j in jobs], "next": after})
        return
    console = Console()
    if wide and not console.is_terminal:  # piped: whole lines, whatever their length
        console = Console(width=WIDE_COLUMNS)
    console.print(jobs_table(jobs) if wide else short_jobs_table(jobs, datetime.now(UTC)))
    if after:
        console.print(f"more: --before {after}")


def show_job(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    app_path: AppArg = None,
    app_option: AppOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Everything about one job: state, arguments, result, every attempt, the error, what
    it waits on and what waits on it. Values named like secrets show as ***, as on the
    dashboard (without the app, every positional argument does)."""

    async def work(runner: TaskRunner) -> tuple[JobInfo, list[str]]:
        try:
            info = shown_job(await runner.get_job(job_id), runner.tasks)
        except JobNotFound as exc:
            raise JobNotFound(f"{exc}{whole_id_hint(job_id)}") from None
        backend = runner.backend
        waiting = await backend.dependents(job_id) if isinstance(backend, Dependencies) else []
        return info, waiting

    info, waiting = with_runner(chosen_app(app_path, app_option), url, work)
    if json_out:
        print_json({**job_dict(info), "dependents": waiting})
    else:
        print_job(Console(), info, waiting)


def pause(
    queue: Annotated[str, typer.Argument(metavar="QUEUE")],
    app_path: AppOpt = None,
    url: UrlOpt = None,
) -> None:
    """Pause a queue: no worker takes its jobs until `taskrunner resume` (running jobs finish,
    enqueues still succeed)."""
    name = checked_queue(queue)
    with_runner(app_path, url, lambda runner: runner.pause(name))
    typer.echo(f"queue {name} paused")


def resume(
    queue: Annotated[str, typer.Argument(metavar="QUEUE")],
    app_path: AppOpt = None,
    url: UrlOpt = None,
) -> None:
    """Resume a paused queue: workers take its jobs again."""
    name = checked_queue(queue)
    with_runner(app_path, url, lambda runner: runner.resume(name))
    typer.echo(f"queue {name} resumed")


def checked_queue(queue: str) -> str:
    """`queue`, if it is a valid queue name; the command fails with the reason otherwise."""
    try:
        return validation.queue_name(queue)
    except TaskrunnerError as exc:
        raise fail(str(exc)) from None


def purge(
    state: Annotated[
        list[str], typer.Option("--state", help="Delete jobs in this state (repeat for several).")
    ],
    app_path: AppOpt = None,
    url: UrlOpt = None,
    older_than: Annotated[
        str | None, typer.Option(help="Only jobs that finished longer ago than this, e.g. 7d.")
    ] = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
) -> None:
    """Delete jobs by state (running jobs are never deleted)."""
    try:
        states = [parse_state(s) for s in state]
        queue = None if queue is None else validation.queue_name(queue)
    except TaskrunnerError as exc:
        raise fail(str(exc)) from None
    age = None if older_than is None else duration(older_than, "--older-than")
    count = with_runner(app_path, url, lambda runner: runner.purge(states, age, queue))
    typer.echo(f"deleted {count} {plural(count, 'job')}")
