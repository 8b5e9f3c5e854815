"""The `taskrunner` command line."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys
import threading
import time
from typing import Annotated, Any

import typer

from taskrunner.backend import redact, scheme_of
from taskrunner.errors import TaskrunnerError
from taskrunner.runner import TaskRunner
from taskrunner.telemetry.logs import setup_logging

app = typer.Typer(
    name="taskrunner",
    help="Run and manage taskrunner workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("taskrunner.cli")

EXIT_USAGE = 2
EXIT_PUT_BACK = 1
THREADS_EXIT_WAIT = 1.0  # seconds ending threads get before `taskrunner run` leaves them


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_runner(path: str, url: str | None) -> TaskRunner:
    """Import `module.path:attribute` and return the TaskRunner it names."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise fail(f"expected module.path:runner (e.g. app.tasks:runner), got {path!r}")
    if url:
        os.environ["TASKRUNNER_URL"] = url
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise fail(f"cannot import {module_name!r}: {exc}") from None
    except TaskrunnerError as exc:
        raise fail(f"importing {module_name!r} failed: {exc}") from None
    runner = getattr(module, attribute, None)
    if runner is None:
        raise fail(f"module {module_name!r} has no attribute {attribute!r}")
    if not isinstance(runner, TaskRunner):
        raise fail(f"{path} is a {type(runner).__name__}, not a TaskRunner")
    if url and runner.url != url:
        try:
            runner.use_url(url)
        except TaskrunnerError as exc:
            raise fail(str(exc)) from None
    return runner


def open_runner(app_path: str | None, url: str | None) -> TaskRunner:
    """The app's runner, or (without an app) a runner for `url` or TASKRUNNER_URL."""
    if app_path is not None:
        return load_runner(app_path, url)
    target = url or os.environ.get("TASKRUNNER_URL") or ""
    if not target:
        raise fail(
            "no backend URL: give the app (module.path:runner), --url, or set TASKRUNNER_URL"
        )
    try:
        return TaskRunner(target)
    except TaskrunnerError as exc:
        raise fail(str(exc)) from None


@app.callback()
def main_callback() -> None:
    """taskrunner: background jobs for asyncio apps."""


@app.command()
def run(
    app_path: Annotated[str, typer.Argument(metavar="APP", help="module.path:runner")],
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 10,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="Queue to take jobs from (repeat for several; default: all "
            "queues of the app's tasks).",
        ),
    ] = None,
    url: Annotated[str | None, typer.Option(help="Backend URL (overrides the app's).")] = None,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds running jobs get to finish after SIGTERM.")
    ] = 25.0,
    lease: Annotated[
        float, typer.Option(min=0.1, help="Seconds before a silent worker's jobs go to others.")
    ] = 30.0,
    burst: Annotated[bool, typer.Option(help="Exit once no job is due.")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[
        str, typer.Option(help="text, or json: one JSON object per line, with job fields.")
    ] = "text",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Serve Prometheus metrics on this port (extra: metrics)."
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address for the metrics server.")
    ] = "127.0.0.1",
) -> None:
    """Run a worker until SIGTERM or SIGINT (a second signal stops at once)."""
    if log_format not in ("text", "json"):
        raise fail(f"--log-format must be text or json, not {log_format!r}")
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise fail(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    setup_logging(log_level, log_format)
    runner = load_runner(app_path, url)
    from taskrunner.worker import WorkerSettings

    try:
        settings = WorkerSettings(
            concurrency=concurrency,
            queues=tuple(queue) if queue else None,
            grace=grace,
            lease=lease,
            burst=burst,
        )
    except TaskrunnerError as exc:
        raise fail(str(exc)) from None
    metrics = None
    if metrics_port is not None:
        from taskrunner.telemetry.metrics import WorkerMetrics

        try:
            metrics = WorkerMetrics()
        except TaskrunnerError as exc:
            raise fail(str(exc)) from None
    try:
        put_back = asyncio.run(_run_worker(runner, settings, metrics, metrics_port, metrics_host))
    except TaskrunnerError as exc:
        raise fail(str(exc), 1) from None
    except OSError as exc:  # connection refused and the like
        raise fail(f"cannot reach the backend at {redact(runner.url)}: {exc}", 1) from None
    code = EXIT_PUT_BACK if put_back else 0
    _exit_past_running_threads(code)
    if code:
        raise typer.Exit(code)


def _exit_past_running_threads(code: int) -> None:
    """Exit now with `code` if threads that tasks left running (a `def` function that never
    returned, a non-daemon thread a task started) would keep the interpreter from exiting:
    they end with the process. Threads that are ending get a moment first."""
    deadline = time.monotonic() + THREADS_EXIT_WAIT
    for thread in _non_daemon_threads():
        thread.join(max(deadline - time.monotonic(), 0.0))
    left = _non_daemon_threads()
    if not left:
        return
    log.warning(
        "%d threads started by tasks still run (%s); exiting without waiting for them",
        len(left),
        ", ".join(sorted(thread.name for thread in left)),
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _non_daemon_threads() -> list[threading.Thread]:
    current = threading.current_thread()
    return [t for t in threading.enumerate() if t is not current and not t.daemon and t.is_alive()]


async def _run_worker(
    runner: TaskRunner, settings: object, metrics: Any, metrics_port: int | None, host: str
) -> int:
    from taskrunner.worker import Worker, WorkerSettings

    assert isinstance(settings, WorkerSettings)
    worker = Worker(runner, settings)
    watching: asyncio.Task[None] | None = None
    if metrics is not None and metrics_port is not None:
        from taskrunner.telemetry.metrics import serve

        metrics.attach(worker)
        serve(metrics, metrics_port, host)
        watching = asyncio.create_task(metrics.watch_queues(worker))
        log.info("metrics on http://%s:%d/metrics", host, metrics_port)
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received == 1:
            log.info(
                "%s received: no new jobs; running ones get %.0fs to finish "
                "(send it again to stop now)",
                name,
                settings.grace,
            )
            worker.stop()
        else:
            log.info("%s received again: stopping now, putting running jobs back", name)
            worker.stop(immediate=True)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await worker.run()
    finally:
        if watching is not None:
            watching.cancel()
        await runner.close()
    return worker.counters.released


@app.command()
def migrate(
    app_path: Annotated[
        str | None,
        typer.Argument(metavar="[APP]", help="module.path:runner whose backend to migrate."),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Backend URL (default: the app's, else TASKRUNNER_URL).")
    ] = None,
) -> None:
    """Apply the backend's pending schema migrations (run it in a release step)."""
    runner = open_runner(app_path, url)
    backend, target = runner.backend, runner.url
    apply = getattr(backend, "migrate", None)
    if apply is None:
        typer.echo(f"the {scheme_of(target)}:// backend needs no migrations; nothing to do")
        return
    try:
        applied = asyncio.run(apply())
    except TaskrunnerError as exc:
        raise fail(str(exc), 1) from None
    except OSError as exc:
        raise fail(f"cannot reach the backend at {redact(target)}: {exc}", 1) from None
    for name in applied:
        typer.echo(f"applied migration {name}")
    if not applied:
        typer.echo(f"{redact(target)}: schema already up to date")


def main() -> None:
    app()


from taskrunner.cli import commands as _commands  # noqa: E402,F401  (registers the commands)
from taskrunner.cli import dashboard as _dashboard  # noqa: E402,F401  (taskrunner dashboard)
