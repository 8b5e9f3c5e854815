"""The operations commands of `taskrunner`: find jobs, act on them, watch queues.

Each takes the app (`module.path:runner`) or just `--url` (or TASKRUNNER_URL): none of them
needs the task code. Human output by default, `--json` for scripts.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console

from taskrunner import _validation as validation
from taskrunner._present import job_dict, stats_dict
from taskrunner._serialization import encode_payload
from taskrunner.backend import JobState, redact
from taskrunner.cli._app import app, fail, open_runner
from taskrunner.cli.render import jobs_table, print_job, stats_tables
from taskrunner.errors import TaskrunnerError
from taskrunner.handle import Job
from taskrunner.retry import MAX_SECONDS
from taskrunner.runner import TaskRunner, parse_state
from taskrunner.stats import Stats
from taskrunner.task import EnqueueOptions, TaskSettings, new_job

T = TypeVar("T")
EXIT_FAILED = 1

AppArg = Annotated[
    str | None, typer.Argument(metavar="[APP]", help="module.path:runner (or give --url).")
]
UrlOpt = Annotated[
    str | None, typer.Option(help="Backend URL (default: the app's, else TASKRUNNER_URL).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str, option: str, *, positive: bool = False) -> float:
    """Seconds from '90', '90s', '15m', '12h' or '7d', at most ten years (more than zero
    with `positive`); a usage error naming `option` otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise fail(
            f"{option}: cannot read {text!r} as a duration: use e.g. 90, 90s, 15m, 12h or 7d"
        )
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value > MAX_SECONDS:
        raise fail(f"{option} {text} is too long: at most ten years ({MAX_SECONDS // 86400}d)")
    if positive and value == 0:
        raise fail(f"{option} must be longer than 0, e.g. 5m")
    return value


def with_runner(
    app_path: str | None, url: str | None, work: Callable[[TaskRunner], Awaitable[T]]
) -> T:
    runner = open_runner(app_path, url)

    async def run() -> T:
        try:
            await runner.connect()
            return await work(runner)
        finally:
            await runner.close()

    try:
        return asyncio.run(run())
    except TaskrunnerError as exc:
        raise fail(str(exc), EXIT_FAILED) from None
    except OSError as exc:
        raise fail(
            f"cannot reach the backend at {redact(runner.url)}: {exc}", EXIT_FAILED
        ) from None


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


@app.command("jobs")
def list_jobs(
    app_path: AppArg = None,
    url: UrlOpt = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    task: Annotated[str | None, typer.Option(help="Only this task.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only jobs enqueued within this long, e.g. 15m or 2d.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Jobs per page.")] = 20,
    before: Annotated[str | None, typer.Option(help="Page cursor (the last id shown).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    since_at = (
        None if since is None else datetime.now(UTC) - timedelta(seconds=duration(since, "--since"))
    )
    page = with_runner(
        app_path,
        url,
        lambda runner: runner.list_jobs(
            queue=queue, state=state, task=task, since=since_at, limit=limit, before=before
        ),
    )
    if json_out:
        print_json({"jobs": [job_dict(j) for j in page.jobs], "next": page.next})
        return
    console = Console()
    console.print(jobs_table(page.jobs))
    if page.next:
        console.print(f"more: --before {page.next}")


@app.command("job")
def show_job(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    app_path: AppArg = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Everything about one job: state, arguments, result, every attempt, the error."""
    info = with_runner(app_path, url, lambda runner: runner.get_job(job_id))
    if json_out:
        print_json(job_dict(info))
    else:
        print_job(Console(), info)


@app.command("retry")
def retry(
    job_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    app_path: Annotated[str | None, typer.Option("--app", help="module.path:runner")] = None,
    url: UrlOpt = None,
    failed: Annotated[bool, typer.Option("--failed", help="Retry every failed job.")] = False,
    queue: Annotated[str | None, typer.Option(help="With --failed: only this queue.")] = None,
) -> None:
    """Run a failed or cancelled job again (or every failed job with --failed)."""
    if (job_id is None) == (not failed):
        raise fail("give a job ID or --failed (not both)")

    async def work(runner: TaskRunner) -> int:
        if job_id is not None:
            if not await runner.retry(job_id):
                info = await runner.get_job(job_id)
                raise TaskrunnerError(
                    f"job {job_id} is {info.state.value}: only failed, "
                    "cancelled and scheduled jobs can be retried"
                )
            return 1
        count = 0
        while True:
            page = await runner.list_jobs(state=JobState.FAILED, queue=queue, limit=500)
            if not page.jobs:
                return count
            done = await runner.backend.retry([info.id for info in page.jobs])
            count += sum(done)

    count = with_runner(app_path, url, work)
    typer.echo(f"queued {count} job{'s' if count != 1 else ''} again")


@app.command("cancel")
def cancel(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    app_path: Annotated[str | None, typer.Option("--app", help="module.path:runner")] = None,
    url: UrlOpt = None,
) -> None:
    """Cancel a job: at once if waiting, at its worker's next heartbeat if running."""

    async def work(runner: TaskRunner) -> JobState:
        info = await runner.get_job(job_id)
        if info.state.finished:
            raise TaskrunnerError(f"job {job_id} is already {info.state.value}")
        return await runner.cancel(job_id)

    state = with_runner(app_path, url, work)
    if state is JobState.RUNNING:
        typer.echo(f"job {job_id} is running: its worker was asked to stop it")
    else:
        typer.echo(f"job {job_id} {state.value}")


@app.command("purge")
def purge(
    state: Annotated[
        list[str], typer.Option("--state", help="Delete jobs in this state (repeat for several).")
    ],
    app_path: Annotated[str | None, typer.Option("--app", help="module.path:runner")] = None,
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
    typer.echo(f"deleted {count} job{'s' if count != 1 else ''}")


@app.command("stats")
def stats(
    app_path: AppArg = None,
    url: UrlOpt = None,
    queue: Annotated[list[str] | None, typer.Option(help="Only these queues.")] = None,
    window: Annotated[str, typer.Option(help="Throughput and runtimes over this long.")] = "5m",
    json_out: JsonOpt = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 if a --max-* threshold is crossed (for monitors)."),
    ] = False,
    max_queued: Annotated[
        int | None, typer.Option(min=0, help="Most jobs waiting in a queue.")
    ] = None,
    max_age: Annotated[
        str | None, typer.Option(help="Longest a due job may wait, e.g. 5m.")
    ] = None,
    max_failure_rate: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="Highest share of failing attempts, e.g. 0.1."),
    ] = None,
) -> None:
    """Counts by state, throughput, failure rate, runtimes and waits per queue; workers."""
    seconds = duration(window, "--window", positive=True)
    max_wait = None if max_age is None else duration(max_age, "--max-age")
    report = with_runner(app_path, url, lambda runner: runner.stats(queue or None, seconds))
    if json_out:
        print_json(stats_dict(report))
    else:
        console = Console()
        for table in stats_tables(report):
            console.print(table)
    if check:
        crossed = crossed_thresholds(report, max_queued, max_wait, max_failure_rate)
        for line in crossed:
            typer.echo(f"CHECK FAILED: {line}", err=True)
        if crossed:
            raise typer.Exit(EXIT_FAILED)
        typer.echo("check passed", err=True)


def crossed_thresholds(
    report: Stats, max_queued: int | None, max_age: float | None, max_failure_rate: float | None
) -> list[str]:
    crossed = []
    for name, queue in sorted(report.items()):
        waiting = queue.get(JobState.QUEUED, 0)
        if max_queued is not None and waiting > max_queued:
            crossed.append(f"queue {name}: {waiting} jobs queued (most allowed {max_queued})")
        age = queue.oldest_queued_age
        if max_age is not None and age is not None and age > max_age:
            crossed.append(
                f"queue {name}: a job has waited {age:.0f}s (most allowed {max_age:.0f}s)"
            )
        rate = queue.failure_rate
        if max_failure_rate is not None and rate is not None and rate > max_failure_rate:
            crossed.append(
                f"queue {name}: {rate:.0%} of attempts failed (most allowed {max_failure_rate:.0%})"
            )
    return crossed


@app.command("enqueue")
def enqueue(
    task: Annotated[str, typer.Argument(help="The task's name, as workers register it.")],
    args_json: Annotated[
        str,
        typer.Argument(
            metavar="ARGS_JSON",
            help="Positional arguments as a JSON list, or keyword arguments "
            "as a JSON object, e.g. '[\"https://example.com/rss\"]'.",
        ),
    ] = "[]",
    app_path: Annotated[str | None, typer.Option("--app", help="module.path:runner")] = None,
    url: UrlOpt = None,
    delay: Annotated[str | None, typer.Option(help="Run no sooner than this, e.g. 10m.")] = None,
    queue: Annotated[str | None, typer.Option(help="Queue (default: the task's).")] = None,
    key: Annotated[str | None, typer.Option(help="Dedup key.")] = None,
) -> None:
    """Enqueue a job by task name, with its arguments in JSON."""
    try:
        given = orjson.loads(args_json)
    except orjson.JSONDecodeError as exc:
        raise fail(f"ARGS_JSON is not JSON: {exc}") from None
    if not isinstance(given, list | dict):
        raise fail("ARGS_JSON must be a JSON list (positional) or object (keyword arguments)")
    args, kwargs = (given, {}) if isinstance(given, list) else ([], given)
    wait = 0.0 if delay is None else duration(delay, "--delay")
    try:
        name = validation.task_name(task)
        dedup_key = None if key is None else validation.dedup_key(key)
    except TaskrunnerError as exc:
        raise fail(str(exc)) from None

    async def work(runner: TaskRunner) -> Job[Any]:
        known = runner.tasks.get(name)
        # a task this process does not know is enqueued with the defaults a task gets
        settings = known.settings if known else TaskSettings(name, queue=runner.default_queue)
        options = EnqueueOptions(
            delay=wait, key=dedup_key, queue=None if queue is None else validation.queue_name(queue)
        )
        new = new_job(settings, options, encode_payload(args, kwargs, runner.max_payload))
        (job_id,) = await runner.backend.enqueue([new])
        return Job(runner, job_id, job_id != new.id)

    job = with_runner(app_path, url, work)
    note = " (a job with that key exists: nothing new was enqueued)" if job.duplicate else ""
    typer.echo(f"{job.id}{note}")
