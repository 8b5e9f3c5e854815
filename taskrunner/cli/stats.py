"""`taskrunner stats`: counts, throughput, failures, runtimes and waits per queue; workers;
and `--check` thresholds for monitors."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from taskrunner._present import stats_dict
from taskrunner.backend import JobState
from taskrunner.cli._app import (
    EXIT_FAILED,
    AppArg,
    JsonOpt,
    UrlOpt,
    duration,
    print_json,
    with_runner,
)
from taskrunner.cli.render import stats_tables
from taskrunner.stats import Stats


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
