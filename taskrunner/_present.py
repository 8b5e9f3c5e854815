"""How jobs, stats and workers are shown, without a terminal library: JSON-able dicts, short
times and durations, and the masking of values that look like secrets.

The CLI (`taskrunner.cli`, which adds rich tables on top) and the dashboard both use these.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from taskrunner.backend import WorkerRecord
from taskrunner.job import AttemptInfo, JobInfo
from taskrunner.stats import Stats

if TYPE_CHECKING:
    from taskrunner.task import Task

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


def shown_job(info: JobInfo, tasks: Mapping[str, Task[..., Any]]) -> JobInfo:
    """`info` as the dashboard and the CLI show it: `masked_job`, the positional arguments
    named by the function of its task among `tasks` (a runner's), if it is there."""
    task = tasks.get(info.task)
    return masked_job(info, task.fn if task is not None else None)


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
    """A moment to the second, e.g. `2026-01-31 09:00:00` (empty for None)."""
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    """A duration in ms, s or minutes, whichever reads best (`-` for None)."""
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
        "key": info.key, "limit_key": info.limit_key, "rate_key": info.rate_key,
        "batch_id": info.batch_id, "after": list(info.after), "run_anyway": info.run_anyway,
        "args": info.args, "kwargs": info.kwargs,
        **{name: value.isoformat() if value else None for name, value in iso.items()},
        "worker": info.worker, "result": info.result,
        "error": None if info.error is None else {
            "type": info.error.type, "message": info.error.message,
            "traceback": info.error.traceback},
        "progress": None if info.progress is None else {
            "done": info.progress.done, "total": info.progress.total,
            "message": info.progress.message},
        "cancel_requested": info.cancel_requested,
        "held_by": None if info.held_by is None else {
            "kind": info.held_by.kind.value, "detail": info.held_by.detail},
        "attempts": [_attempt_dict(a) for a in info.attempts],
    }  # fmt: skip


def stats_dict(stats: Stats) -> dict[str, Any]:
    """Stats per queue, and the workers, as plain JSON-able data."""
    return {
        "queues": {
            name: {
                "counts": {state.value: count for state, count in queue.items()},
                "paused": queue.paused,
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
    """A worker's record as plain JSON-able data."""
    return {"id": worker.id, "hostname": worker.hostname, "pid": worker.pid,
            "queues": list(worker.queues), "concurrency": worker.concurrency,
            "running": worker.running, "started_at": worker.started_at,
            "last_seen": worker.last_seen}  # fmt: skip
