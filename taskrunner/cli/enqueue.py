"""`taskrunner enqueue`: store a job by task name, its arguments in JSON.

With the app, the app's task checks the call; without it, a stand-in from the backend's
task registry does (`taskrunner.registry`), with the settings the task's workers published.
Either way the job is prepared as `task.options(...).prepare(...)` prepares it, the way
the HTTP door does, so the same rules hold. A backend without a registry stores the call
unchecked, after a note.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from taskrunner import _validation as validation
from taskrunner._serialization import encode_payload
from taskrunner.backend import TaskRegistry
from taskrunner.cli._app import AppOpt, UrlOpt, duration, fail, with_runner
from taskrunner.dependencies import waiting_jobs
from taskrunner.errors import TaskrunnerError
from taskrunner.handle import Job
from taskrunner.limits import NO_FLOW
from taskrunner.registry import registered_task
from taskrunner.runner import TaskRunner
from taskrunner.task import EnqueueOptions, Task, TaskSettings, make_options, new_job

UNCHECKED = (
    "note: without the app (or a backend's task registry) the task name and arguments "
    "cannot be checked; a worker fails the job if they do not fit"
)


TaskArg = Annotated[str, typer.Argument(help="The task's name, as workers register it.")]
ArgsJson = Annotated[
    str,
    typer.Argument(
        metavar="ARGS_JSON",
        help="Positional arguments as a JSON list, or keyword arguments as a JSON object, "
        "e.g. '[\"https://example.com/rss\"]'.",
    ),
]
KwargsJson = Annotated[
    str | None, typer.Option("--kwargs", help="Keyword arguments as a JSON object, beside a list.")
]
Delay = Annotated[str | None, typer.Option(help="Run no sooner than this, e.g. 10m.")]
Queue = Annotated[str | None, typer.Option(help="Queue (default: the task's).")]
Priority = Annotated[int | None, typer.Option(help="Priority, lower first (default: the task's).")]
Retries = Annotated[
    int | None, typer.Option(help="Attempts after the first (default: the task's).")
]
Key = Annotated[str | None, typer.Option(help="Dedup key.")]
KeyTtl = Annotated[
    str | None, typer.Option(help="Hold the dedup key this long after the enqueue, e.g. 60s.")
]
Timeout = Annotated[str | None, typer.Option(help="Seconds an attempt may take, e.g. 30s.")]
Expires = Annotated[
    str | None, typer.Option(help="Cancel it if no attempt started within this long, e.g. 1h.")
]
LimitKey = Annotated[str | None, typer.Option(help="The key of the task's Limit.")]
RateKey = Annotated[str | None, typer.Option(help="The key of the task's Rate.")]
After = Annotated[
    list[str] | None,
    typer.Option(help="Wait until this job succeeded (repeat for several).", metavar="ID"),
]
RunAnyway = Annotated[
    bool, typer.Option(help="With --after: run once they ended, whatever the outcome.")
]


def enqueue(
    task: TaskArg,
    args_json: ArgsJson = "[]",
    app_path: AppOpt = None,
    url: UrlOpt = None,
    kwargs_json: KwargsJson = None,
    delay: Delay = None,
    queue: Queue = None,
    priority: Priority = None,
    retries: Retries = None,
    key: Key = None,
    key_ttl: KeyTtl = None,
    timeout: Timeout = None,
    expires: Expires = None,
    limit_key: LimitKey = None,
    rate_key: RateKey = None,
    after: After = None,
    run_anyway: RunAnyway = False,
) -> None:
    """Enqueue a job by task name, with its arguments in JSON."""
    args, kwargs = call_arguments(args_json, kwargs_json)
    choices: dict[str, Any] = {
        "delay": 0.0 if delay is None else duration(delay, "--delay"),
        "key_ttl": None if key_ttl is None else duration(key_ttl, "--key-ttl", positive=True),
        "timeout": None if timeout is None else duration(timeout, "--timeout", positive=True),
        "expires": None if expires is None else duration(expires, "--expires", positive=True),
        "queue": queue, "priority": priority, "retries": retries, "key": key,
        "limit_key": limit_key, "rate_key": rate_key, "after": after or None,
        "run_anyway": run_anyway or None,
    }  # fmt: skip
    if key_ttl is not None and key is None:
        raise fail("--key-ttl needs a dedup key: give --key too")
    if run_anyway and not after:
        raise fail("--run-anyway needs jobs to wait on: give --after too")
    try:
        name = validation.task_name(task)
        options = make_options(EnqueueOptions(), at=None, **choices)  # checked before connecting
    except TaskrunnerError as exc:
        raise fail(str(exc)) from None

    async def work(runner: TaskRunner) -> Job[Any]:
        found = await task_named(runner, name, app_path is not None)
        if found is None:
            return await enqueue_unchecked(runner, name, args, kwargs, options)
        (job,) = await runner.enqueue_many([found.options(**choices).prepare(*args, **kwargs)])
        return job

    job = with_runner(app_path, url, work)
    note = " (a job with that key exists: nothing new was enqueued)" if job.duplicate else ""
    typer.echo(f"{job.id}{note}")


def call_arguments(args_json: str, kwargs_json: str | None) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments: ARGS_JSON (a JSON list, or an object of keyword
    arguments) and --kwargs (an object, beside a list)."""
    given, extra = json_value(args_json, "ARGS_JSON"), json_value(kwargs_json or "{}", "--kwargs")
    if not isinstance(given, list | dict):
        raise fail("ARGS_JSON must be a JSON list (positional) or object (keyword arguments)")
    if not isinstance(extra, dict):
        raise fail("--kwargs must be a JSON object")
    if isinstance(given, dict):
        if extra:
            raise fail("give keyword arguments once: in ARGS_JSON or in --kwargs")
        return [], given
    return given, extra


def json_value(text: str, name: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise fail(f"{name} is not JSON: {exc}") from None


async def task_named(runner: TaskRunner, name: str, from_app: bool) -> Task[..., Any] | None:
    """The task `name`: the app's, or a stand-in from the backend's task registry. None
    (after a note) when neither can tell: the call is stored unchecked."""
    task = runner.tasks.get(name)
    if task is not None:
        return task
    if from_app:
        known = ", ".join(sorted(runner.tasks)[:20]) or "none"
        raise TaskrunnerError(f"the app has no task named {name!r} (it has: {known})")
    task = await registered_task(runner, runner.backend, name)
    if task is None and isinstance(runner.backend, TaskRegistry):
        raise TaskrunnerError(
            f"no worker has published a task named {name!r} (workers publish their tasks "
            "when they start): check the name, start a worker, or give the app"
        )
    if task is None:
        typer.echo(UNCHECKED, err=True)
    return task


async def enqueue_unchecked(
    runner: TaskRunner, name: str, args: list[Any], kwargs: dict[str, Any], options: EnqueueOptions
) -> Job[Any]:
    """Store a job of the task called `name`, unknown here, with the defaults a task gets
    (a limit or rate key given applies to no Limit or Rate: refused)."""
    if options.limit_key is not None or options.rate_key is not None:
        raise TaskrunnerError("--limit-key and --rate-key need the task's Limit or Rate: unknown")
    settings = TaskSettings(name, queue=runner.default_queue)
    payload = encode_payload(args, kwargs, runner.max_payload)
    news = [new := new_job(settings, options, payload, NO_FLOW)]
    if options.after:
        news = waiting_jobs(runner.backend, news, [settings.result_ttl], runner.result_ttl)
    (job_id,) = await runner.backend.enqueue(news)
    return Job(runner, job_id, job_id != new.id)
