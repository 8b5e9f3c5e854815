"""`taskrunner stats`: counts, throughput, failures, runtimes and waits per queue; workers;
`--watch`, a view that refreshes like `top`; and `--check` thresholds for monitors."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
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


QueuesOpt = Annotated[list[str] | None, typer.Option(help="Only these queues.")]
WindowOpt = Annotated[str, typer.Option(help="Throughput and runtimes over this long.")]
WatchOpt = Annotated[bool, typer.Option("--watch", help="Refresh the view until Ctrl-C, like top.")]
IntervalOpt = Annotated[
    float, typer.Option(min=0.1, max=3600, help="Seconds between refreshes of --watch.")
]
CountOpt = Annotated[
    int | None, typer.Option(min=1, hidden=True, help="Stop --watch after this many views.")
]
CheckOpt = Annotated[bool, typer.Option("--check", help=CHECK_HELP)]
MaxQueuedOpt = Annotated[int | None, typer.Option(min=0, help="Most jobs waiting in a queue.")]
MaxAgeOpt = Annotated[str | None, typer.Option(help="Longest a due job may wait, e.g. 5m.")]
MaxFailureRateOpt = Annotated[
    float | None,
    typer.Option(min=0, max=1, help="Highest share of failing attempts, e.g. 0.1."),
]
Thresholds = tuple[int | None, float | None, float | None]


def stats(
    app_path: AppArg = None,
    app_option: AppOpt = None,
    url: UrlOpt = None,
    queue: QueuesOpt = None,
    window: WindowOpt = "5m",
    json_out: JsonOpt = False,
    watch: WatchOpt = False,
    interval: IntervalOpt = 2.0,
    count: CountOpt = None,
    check: CheckOpt = False,
    max_queued: MaxQueuedOpt = None,
    max_age: MaxAgeOpt = None,
    max_failure_rate: MaxFailureRateOpt = None,
) -> None:
    """Counts by state, throughput, failure rate, runtimes and waits per queue; workers.

    Exit status: 0 done (--check: every threshold holds), 1 a --check threshold is crossed.

    2 a usage error (--check without a threshold is one), 3 the backend cannot be reached."""
    seconds = duration(window, "--window", positive=True)
    thresholds = checked_thresholds(check, max_queued, max_age, max_failure_rate)
    app_path, queues = chosen_app(app_path, app_option), queue or None
    if watch:
        if check or json_out:
            raise fail("--watch shows tables: give it without --check and --json")
        with suppress(KeyboardInterrupt):  # Ctrl-C: the way out of the view
            with_runner(
                app_path,
                url,
                lambda runner: watch_stats(runner, queues, seconds, interval, count),
                MONITOR_EXITS,
            )
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
        judge(report, thresholds)


def checked_thresholds(
    check: bool, max_queued: int | None, max_age: str | None, max_failure_rate: float | None
) -> Thresholds:
    """The thresholds of --check: at least one with it, none without it."""
    thresholds = (
        max_queued,
        None if max_age is None else duration(max_age, "--max-age"),
        max_failure_rate,
    )
    given = any(limit is not None for limit in thresholds)
    if check and not given:
        raise fail("--check needs a threshold: --max-queued, --max-age or --max-failure-rate")
    if given and not check:
        raise fail("--max-queued, --max-age and --max-failure-rate need --check")
    return thresholds


def judge(report: Stats, thresholds: Thresholds) -> None:
    """Name each threshold crossed and exit 1, or say the check passed."""
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
