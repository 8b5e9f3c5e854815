"""`taskrunner run`: a worker in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from typing import Annotated, Any

import typer

from taskrunner.cli._app import AppArg, AppOpt, chosen_app, fail, load_runner, run_on_backend
from taskrunner.cli.reload import run_reloading
from taskrunner.errors import ConfigurationError, TaskrunnerError
from taskrunner.runner import TaskRunner
from taskrunner.telemetry.logs import setup_logging
from taskrunner.telemetry.metrics import WorkerMetrics, serve
from taskrunner.worker import Worker, WorkerSettings

log = logging.getLogger("taskrunner.cli")

EXIT_PUT_BACK = 1
THREADS_EXIT_WAIT = 1.0  # seconds ending threads get before `taskrunner run` leaves them

QueueOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--queue",
        "--queues",
        "-q",
        help="Queues to take jobs from: `a,b`, or with the most jobs of each run at once, "
        "`a=5,b=20` (repeatable; default: all queues of the app's tasks).",
    ),
]
GraceOpt = Annotated[
    float, typer.Option(min=0, help="Seconds running jobs get to finish after SIGTERM.")
]
LeaseOpt = Annotated[
    float, typer.Option(min=0.1, help="Seconds before a silent worker's jobs go to others.")
]
LogFormatOpt = Annotated[
    str, typer.Option(help="text, or json: one JSON object per line, with job fields.")
]
MetricsPortOpt = Annotated[
    int | None,
    typer.Option(min=1, max=65535, help="Serve Prometheus metrics on this port (extra: metrics)."),
]


def run(
    app_path: AppArg = None,
    app_option: AppOpt = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Jobs run at once (default 10, or the sum of queue limits)."),
    ] = None,
    queue: QueueOpt = None,
    url: Annotated[str | None, typer.Option(help="Backend URL (overrides the app's).")] = None,
    grace: GraceOpt = 25.0,
    lease: LeaseOpt = 30.0,
    burst: Annotated[bool, typer.Option(help="Exit once no job is due.")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: LogFormatOpt = "text",
    metrics_port: MetricsPortOpt = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address for the metrics server.")
    ] = "127.0.0.1",
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Development only: restart the worker when a Python file under the current "
            "directory changes (extra: reload).",
        ),
    ] = False,
) -> None:
    """Run a worker until SIGTERM or SIGINT (a second signal stops at once)."""
    app_path = chosen_app(app_path, app_option)
    if app_path is None:
        raise fail("give the app: taskrunner run module.path:runner (or --app, TASKRUNNER_APP)")
    if log_format not in ("text", "json"):
        raise fail(f"--log-format must be text or json, not {log_format!r}")
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise fail(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    setup_logging(log_level, log_format)
    _heed_sigint()
    if reload:
        run_reloading(sys.argv[1:], grace)
        return
    runner = load_runner(app_path, url)
    try:
        given: dict[str, Any] = {} if concurrency is None else {"concurrency": concurrency}
        settings = WorkerSettings(
            **given,
            queues=parse_queues(queue or []),
            grace=grace,
            lease=lease,
            burst=burst,
        )
        metrics = None if metrics_port is None else WorkerMetrics()
    except TaskrunnerError as exc:
        raise fail(str(exc)) from None
    put_back = run_on_backend(
        _run_worker(runner, settings, metrics, metrics_port, metrics_host), runner.url
    )
    code = EXIT_PUT_BACK if put_back else 0
    _exit_past_running_threads(code)
    if code:
        raise typer.Exit(code)


def parse_queues(values: list[str]) -> tuple[str, ...] | dict[str, int] | None:
    """`--queue` values (`a,b` or `a=5,b=20`, repeatable) as names or limits by name."""
    entries = [entry.strip() for value in values for entry in value.split(",")]
    if not entries:
        return None
    if "" in entries:
        raise ConfigurationError(f"--queue names an empty queue: {','.join(values)!r}")
    limited = ["=" in entry for entry in entries]
    if not any(limited):
        names = tuple(entries)
        if len(set(names)) != len(names):
            raise ConfigurationError(f"--queue names a queue twice: {','.join(names)}")
        return names
    if not all(limited):
        raise ConfigurationError("--queue: give a limit to every queue (a=5,b=20) or to none")
    limits: dict[str, int] = {}
    for entry in entries:
        name, _, number = (part.strip() for part in entry.partition("="))
        if name in limits:
            raise ConfigurationError(f"--queue names queue {name!r} twice")
        if not (number.isascii() and number.isdigit()):
            raise ConfigurationError(
                f"--queue: the limit of queue {name!r} must be a whole number, got {number!r}"
            )
        limits[name] = int(number)
    return limits


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
    runner: TaskRunner,
    settings: WorkerSettings,
    metrics: WorkerMetrics | None,
    metrics_port: int | None,
    host: str,
) -> int:
    """Run the worker to its end; how many running jobs it put back."""
    worker = Worker(runner, settings)
    if metrics is not None and metrics_port is not None:
        metrics.attach(worker)
        serve(metrics, metrics_port, host)
        log.info("metrics on http://%s:%d/metrics", host, metrics_port)
    _stop_on_signals(worker, settings.grace)
    try:
        await worker.run()
    finally:
        await runner.close()
    return worker.counters.released


def _heed_sigint() -> None:
    """Let SIGINT stop the command even if it came in ignored: a shell without job control
    starts a command put in the background (`taskrunner run ... &`) with SIGINT ignored,
    and Python then installs no handler of its own. The worker's own handler replaces it
    once the loop runs; till then, and in the --reload supervisor, SIGINT raises
    KeyboardInterrupt as usual rather than being lost."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _stop_on_signals(worker: Worker, grace: float) -> None:
    """SIGTERM or SIGINT stops `worker` gently; the second one stops it at once."""
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
                grace,
            )
            worker.stop()
        else:
            log.info("%s received again: stopping now, putting running jobs back", name)
            worker.stop(immediate=True)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
