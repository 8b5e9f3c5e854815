"""How jobs and stats look on a terminal: rich tables and text (the JSON forms are in
`taskrunner._present`)."""

from __future__ import annotations

from datetime import datetime

from rich import box
from rich.console import Console
from rich.table import Column, Table

from taskrunner._present import seconds, when
from taskrunner.backend import JobState
from taskrunner.job import JobInfo
from taskrunner.stats import Stats

STATE_STYLES = {
    JobState.WAITING: "dim", JobState.QUEUED: "cyan", JobState.SCHEDULED: "blue",
    JobState.RUNNING: "yellow",
    JobState.SUCCEEDED: "green", JobState.FAILED: "red", JobState.CANCELLED: "magenta",
}  # fmt: skip


SHORT_ID = 12  # characters of a job id in the narrow table: its random end
WHOLE_ID = 36  # characters of a whole job id (a UUID)


def whole_id_hint(job_id: str) -> str:
    """A hint for an id shorter than a whole one, as `jobs` shows the end of each id."""
    return "" if len(job_id) >= WHOLE_ID else "; commands need whole ids: `jobs --wide` shows them"


def plural(count: int, noun: str) -> str:
    """`noun`, or its plural for a count other than 1."""
    return noun if count == 1 else f"{noun}s"


def age(moment: datetime, now: datetime) -> str:
    """How long ago `moment` was, in one unit: `40s`, `12m`, `5h`, `3d`."""
    elapsed = max((now - moment).total_seconds(), 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if elapsed >= size:
            return f"{elapsed // size:.0f}{unit}"
    return f"{elapsed:.0f}s"


def short_jobs_table(jobs: list[JobInfo], now: datetime) -> Table:
    """Jobs in 80 columns: the end of each id, task, queue, state, attempt and age; long
    names are cut short (`jobs_table` has every column)."""
    table = Table(
        Column("id (end)", no_wrap=True, min_width=SHORT_ID),
        Column("task", no_wrap=True, overflow="ellipsis", max_width=28),
        Column("queue", no_wrap=True, overflow="ellipsis", max_width=10),
        Column("state", no_wrap=True, min_width=9),
        Column("try", no_wrap=True, min_width=3),
        Column("age", no_wrap=True, justify="right", min_width=3),
        box=box.SIMPLE_HEAD,
        caption="--wide: whole ids, times and errors" if jobs else None,
    )
    for info in jobs:
        table.add_row(
            info.id[-SHORT_ID:],
            info.task,
            info.queue,
            f"[{STATE_STYLES[info.state]}]{info.state.value}[/]",
            f"{info.attempt}/{info.max_attempts}",
            age(info.enqueued_at, now),
        )
    return table


def jobs_table(jobs: list[JobInfo]) -> Table:
    table = Table(
        Column("id", no_wrap=True),
        Column("task", overflow="fold"),
        "queue",
        "state",
        "attempt",
        "enqueued",
        "finished",
        "error",
    )
    for info in jobs:
        style = STATE_STYLES[info.state]
        table.add_row(
            info.id,
            info.task,
            info.queue,
            f"[{style}]{info.state.value}[/]",
            f"{info.attempt}/{info.max_attempts}",
            when(info.enqueued_at),
            when(info.finished_at),
            "" if info.error is None else f"{info.error.type}: {info.error.message}"[:60],
        )
    return table


def print_job(console: Console, info: JobInfo, dependents: list[str] | None = None) -> None:
    style = STATE_STYLES[info.state]
    console.print(
        f"[bold]{info.id}[/]  {info.task}  queue {info.queue}  "
        f"[{style}]{info.state.value}[/]  attempt {info.attempt}/{info.max_attempts}"
    )
    console.print(
        f"enqueued {when(info.enqueued_at)}   due {when(info.run_at)}   "
        f"started {when(info.started_at) or '-'}   "
        f"finished {when(info.finished_at) or '-'}"
    )
    if info.held_by is not None:
        console.print(f"[bold]held[/]: {info.held_by.detail}", highlight=False)
    keys = (("limit", info.limit_key), ("rate", info.rate_key), ("batch", info.batch_id))
    if flow := [f"{kind} {'' if kind == 'batch' else 'key '}{key}" for kind, key in keys if key]:
        console.print("   ".join(flow), highlight=False, markup=False)
    if info.after:
        anyway = " (runs whatever their outcome)" if info.run_anyway else ""
        console.print(f"after {', '.join(info.after)}{anyway}", highlight=False, markup=False)
    if dependents:
        console.print(f"waited on by {', '.join(dependents)}", highlight=False, markup=False)
    console.print(f"args {info.args!r}  kwargs {info.kwargs!r}")
    if info.state is JobState.SUCCEEDED:
        console.print(f"result {info.result!r}")
    if info.progress is not None:
        console.print(
            f"progress {info.progress.done:g}"
            + (f"/{info.progress.total:g}" if info.progress.total else "")
            + (f" {info.progress.message}" if info.progress.message else "")
        )
    if info.attempts:
        table = Table("attempt", "worker", "started", "ran", "outcome", "error")
        for attempt in info.attempts:
            table.add_row(
                str(attempt.attempt),
                attempt.worker or "",
                when(attempt.started_at),
                seconds(attempt.duration),
                attempt.outcome.value,
                "" if attempt.error is None else f"{attempt.error.type}: {attempt.error.message}",
            )
        console.print(table)
    if info.error is not None and info.error.traceback:
        console.print("[bold red]last error[/]")
        console.print(info.error.traceback, markup=False, highlight=False)


def stats_tables(stats: Stats) -> list[Table]:
    # without vertical rules, as `jobs`: the counts of short queue names fit 80 columns
    counts = Table(
        Column("queue", no_wrap=True),
        *(s.value for s in JobState),
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    recent = Table(
        Column("queue", no_wrap=True),
        "jobs/s",
        "failing",
        "p50",
        "p95",
        "oldest wait",
        title=_recent_title(stats),
        box=box.SIMPLE_HEAD,
    )
    for name, queue in sorted(stats.items()):
        shown = f"{name} (paused)" if queue.paused else name
        counts.add_row(shown, *(str(queue.get(s, 0)) for s in JobState))
        failing = "-" if queue.failure_rate is None else f"{queue.failure_rate:.0%}"
        throughput = "-" if queue.throughput is None else f"{queue.throughput:.2f}"
        recent.add_row(
            name,
            throughput,
            failing,
            seconds(queue.runtime_p50),
            seconds(queue.runtime_p95),
            seconds(queue.oldest_queued_age),
        )
    workers = Table(
        Column("worker", no_wrap=True), "queues", "running", "seen", box=box.SIMPLE_HEAD
    )
    for worker in stats.workers:
        workers.add_row(
            worker.id,
            ",".join(worker.queues),
            f"{worker.running}/{worker.concurrency}",
            datetime.fromtimestamp(worker.last_seen).strftime("%H:%M:%S"),
        )
    return [counts, recent, workers]


def _recent_title(stats: Stats) -> str:
    """Which span the recent figures cover (counted from the start of a whole second)."""
    queue = next(iter(stats.values()), None)
    if queue is None:
        return "recent activity"
    if queue.span is None:
        return f"last {seconds(queue.window)}"
    return f"last {seconds(queue.window)} (counted over {seconds(queue.span)})"
