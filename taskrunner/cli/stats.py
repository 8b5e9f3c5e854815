"""`taskrunner stats`: counts, throughput, failures, runtimes and waits per queue; workers;
`--watch`, a view that refreshes like `top`; and `--check` thresholds for monitors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console

from taskrunner._present import stats_dict
from taskrunner.backend import JobState
from taskrunner.cli._app import (
    EXIT_FAILED,
    MONITOR_EXITS,
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
from taskrunner.cli.render import stats_tables
from taskrunner.cli.watch import watch_stats
from taskrunner.stats import Stats

CHECK_HELP = (
    "Exit 1 if a --max-* threshold is crossed, for monitors. Exit status: 0 all thresholds "
    "hold, 1 one is crossed, 2 usage error (no threshold given is one), 3 the backend "
    "cannot be reached."
)


def stats(
    app_path: AppArg = None,
    app_option: AppOpt = None,
    url: UrlOpt = None,
    queue: Annotated[list[str] | None, typer.Option(help="Only these queues.")] = None,
    window: Annotated[str, typer.Option(help="Throughput and runtimes over this long.")] = "5m",
    json_out: JsonOpt = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh the view until Ctrl-C, like top.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, max=3600, help="Seconds between refreshes of --watch.")
    ] = 2.0,
    count: Annotated[
        int | None, typer.Option(min=1, hidden=True, help="Stop --watch after this many views.")
    ] = None,
    check: Annotated[bool, typer.Option("--check", help=CHECK_HELP)] = False,
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
    """Counts by state, throughput, failure rate, runtimes and waits per queue; workers.

    Exit status: 0 done (with --check: every threshold holds), 1 a --check threshold is
    crossed, 2 a usage error, 3 the backend cannot be reached."""
    seconds = duration(window, "--window", positive=True)
    max_wait = None if max_age is None else duration(max_age, "--max-age")
    thresholds = (max_queued, max_wait, max_failure_rate)
    app_path = chosen_app(app_path, app_option)
    queues = queue or None
    if check and all(limit is None for limit in thresholds):
        raise fail("--check needs a threshold: --max-queued, --max-age or --max-failure-rate")
    if not check and any(limit is not None for limit in thresholds):
        raise fail("--max-queued, --max-age and --max-failure-rate need --check")
    if watch:
        if check or json_out:
            raise fail("--watch shows tables: give it without --check and --json")
        watching = lambda runner: watch_stats(runner, queues, seconds, interval, count)  # noqa: E731
        try:
            with_runner(app_path, url, watching, MONITOR_EXITS)
        except KeyboardInterrupt:  # Ctrl-C: the way out of the view
            return
        return
    if count is not None:
        raise fail("--count goes with --watch")
    report = with_runner(app_path, url, lambda runner: runner.stats(queues, seconds), MONITOR_EXITS)
    if json_out:
        print_json(stats_dict(report))
    else:
        console = Console()
        for table in stats_tables(report):
            console.print(table)
    if check:
        crossed = crossed_thresholds(report, *thresholds)
        for line in crossed:
            typer.echo(f"CHECK FAILED: {line}", err=True)
        if crossed:
            raise typer.Exit(EXIT_FAILED)
        typer.echo("check passed", err=True)


def crossed_thresholds(
    report: Stats, max_queued: int | None, max_age: float | None, max_failure_rate: float | None
) -> Sequence[str]:
    """One line per threshold crossed, per queue."""
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
