"""How jobs and stats look on a terminal (rich) and to scripts (JSON)."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Column, Table

from taskrunner.backend import JobState, WorkerRecord
from taskrunner.job import AttemptInfo, JobInfo
from taskrunner.stats import Stats

STATE_STYLES = {
    JobState.QUEUED: "cyan", JobState.SCHEDULED: "blue", JobState.RUNNING: "yellow",
    JobState.SUCCEEDED: "green", JobState.FAILED: "red", JobState.CANCELLED: "magenta",
}  # fmt: skip


MASK = "***"
# a name holds a secret when, lower-cased and without separators, it contains one of these
# or ends with "token" (`csrf_token`, `accessToken`; not `max_tokens` or `tokenizer`)
SECRET_NAME_PARTS = ("password", "passwd", "passphrase", "secret", "apikey", "privatekey",
                     "credential", "authorization")  # fmt: skip
_SEPARATORS = re.compile(r"[^a-z0-9]")


def is_secret_name(name: str) -> bool:
    """Whether a parameter or key called `name` looks like it holds a secret: `password`,
    `api_key`, `client_secret`, `X-Api-Key`, `access_token`, `Authorization`..."""
    flat = _SEPARATORS.sub("", name.lower())
    return flat.endswith("token") or any(part in flat for part in SECRET_NAME_PARTS)


def mask_secrets(value: Any) -> Any:
    """`value` (JSON-like data) with whatever sits under a key named like a secret, at any
    depth, replaced by `***`."""
    if isinstance(value, dict):
        return {
            key: MASK if isinstance(key, str) and is_secret_name(key) else mask_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(item) for item in value]
    return value


def masked_job(info: JobInfo, fn: Callable[..., Any] | None) -> JobInfo:
    """`info` as it may be shown to people: the values of arguments whose parameter is named
    like a secret (and of such keys inside arguments and the result) replaced by `***`.

    `fn` is the task's function, which names the positional arguments; without it (the task
    code is not loaded) no positional value can be told safe, so all of them are masked.
    """
    args = info.args
    if args is not None:
        names = positional_names(fn, len(args))
        args = [
            MASK if name is None or is_secret_name(name) else mask_secrets(value)
            for name, value in zip(names, args, strict=True)
        ]
    return dataclasses.replace(
        info, args=args, kwargs=mask_secrets(info.kwargs), result=mask_secrets(info.result)
    )


def positional_names(fn: Callable[..., Any] | None, count: int) -> list[str | None]:
    """The parameter names `count` positional arguments of `fn` bind to (None: unknown)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values()) if fn else []
    except (TypeError, ValueError):  # a callable without a signature to read
        parameters = []
    positional = [
        p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    rest = next((p.name for p in parameters if p.kind is p.VAR_POSITIONAL), None)
    return [positional[i] if i < len(positional) else rest for i in range(count)]


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 120:
        return f"{value:.1f}s"
    return f"{value / 60:.1f}m"


def _attempt_dict(attempt: AttemptInfo) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "worker": attempt.worker,
        "started_at": attempt.started_at.isoformat() if attempt.started_at else None,
        "ended_at": attempt.ended_at.isoformat(),
        "outcome": attempt.outcome.value,
        "error": None
        if attempt.error is None
        else {
            "type": attempt.error.type,
            "message": attempt.error.message,
            "traceback": attempt.error.traceback,
        },
    }


def job_dict(info: JobInfo) -> dict[str, Any]:
    """A job as plain JSON-able data."""
    iso = {
        name: getattr(info, name) for name in ("enqueued_at", "run_at", "started_at", "finished_at")
    }
    return {
        "id": info.id, "task": info.task, "queue": info.queue, "state": info.state.value,
        "attempt": info.attempt, "max_attempts": info.max_attempts, "priority": info.priority,
        "key": info.key, "args": info.args, "kwargs": info.kwargs,
        **{name: value.isoformat() if value else None for name, value in iso.items()},
        "worker": info.worker, "result": info.result,
        "error": None if info.error is None else {
            "type": info.error.type, "message": info.error.message,
            "traceback": info.error.traceback},
        "progress": None if info.progress is None else {
            "done": info.progress.done, "total": info.progress.total,
            "message": info.progress.message},
        "cancel_requested": info.cancel_requested,
        "attempts": [_attempt_dict(a) for a in info.attempts],
    }  # fmt: skip


def jobs_table(jobs: list[JobInfo]) -> Table:
    table = Table(
        Column("id", no_wrap=True),
        Column("task", no_wrap=True),
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


def print_job(console: Console, info: JobInfo) -> None:
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


def stats_dict(stats: Stats) -> dict[str, Any]:
    return {
        "queues": {
            name: {
                "counts": {state.value: count for state, count in queue.items()},
                "throughput_per_second": queue.throughput,
                "failure_rate": queue.failure_rate,
                "runtime_p50": queue.runtime_p50,
                "runtime_p95": queue.runtime_p95,
                "oldest_queued_age": queue.oldest_queued_age,
                "window": queue.window,
                "span": queue.span,
            }
            for name, queue in stats.items()
        },
        "workers": [worker_dict(w) for w in stats.workers],
    }


def worker_dict(worker: WorkerRecord) -> dict[str, Any]:
    return {"id": worker.id, "hostname": worker.hostname, "pid": worker.pid,
            "queues": list(worker.queues), "concurrency": worker.concurrency,
            "running": worker.running, "started_at": worker.started_at,
            "last_seen": worker.last_seen}  # fmt: skip


def stats_tables(stats: Stats) -> list[Table]:
    counts = Table(Column("queue", no_wrap=True), *(s.value for s in JobState))
    recent = Table(
        Column("queue", no_wrap=True),
        "jobs/s",
        "failing",
        "p50",
        "p95",
        "oldest wait",
        title=_recent_title(stats),
    )
    for name, queue in sorted(stats.items()):
        counts.add_row(name, *(str(queue.get(s, 0)) for s in JobState))
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
    workers = Table(Column("worker", no_wrap=True), "queues", "running", "seen")
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
