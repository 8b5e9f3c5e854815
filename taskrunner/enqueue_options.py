"""A call's options (`task.options(...)`), checked once, and what every job of a task with
those options shares (`JobPlan`), worked out once rather than at each enqueue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from taskrunner import _validation as validation
from taskrunner import policy
from taskrunner.backend import NewJob, new_job_id
from taskrunner.dependencies import dependency_ids
from taskrunner.errors import ConfigurationError
from taskrunner.handle import Job
from taskrunner.job import JobInfo
from taskrunner.limits import NO_FLOW, FlowFields
from taskrunner.retry import due_at, seconds

# the keys of a payload's meta that carry per-enqueue options (read by worker/flow.py)
META_TIMEOUT = "timeout"
META_EXPIRES_IN = "expires_in"  # seconds after the job's enqueue
META_EXPIRES_AT = "expires_at"  # epoch seconds


@dataclass(frozen=True, slots=True)
class EnqueueOptions:
    """Per-call overrides from `task.options(...)`."""

    delay: float = 0.0
    at: float | None = None
    key: str | None = None
    priority: int | None = None
    queue: str | None = None
    connection: Any = None
    retries: int | None = None
    key_ttl: float | None = None  # the key is a dedup window of this many seconds
    limit_key: str | None = None  # replaces the key of the task's Limit
    rate_key: str | None = None  # replaces the key of the task's Rate
    after: tuple[str, ...] = ()  # ids of the jobs it waits on
    run_anyway: bool = False  # run once they all ended, whatever the outcome
    meta: tuple[tuple[str, float], ...] = ()  # timeout and expiry, carried in the payload


def make_options(
    base: EnqueueOptions,
    *,
    delay: float | timedelta | None,
    at: datetime | None,
    key: str | None,
    priority: int | None,
    queue: str | None,
    connection: Any = None,
    retries: int | None = None,
    timeout: float | timedelta | None = None,
    expires: float | timedelta | datetime | None = None,
    key_ttl: float | timedelta | None = None,
    limit_key: str | None = None,
    rate_key: str | None = None,
    after: Iterable[Job[Any] | JobInfo | str] | None = None,
    run_anyway: bool | None = None,
) -> EnqueueOptions:
    changes: dict[str, Any] = {}
    if after is not None:
        changes["after"] = dependency_ids(after)
    if run_anyway is not None:
        if not isinstance(run_anyway, bool):
            raise ConfigurationError(f"run_anyway must be True or False, got {run_anyway!r}")
        changes["run_anyway"] = run_anyway
    if limit_key is not None:
        changes["limit_key"] = validation.flow_key(limit_key, "limit")
    if rate_key is not None:
        changes["rate_key"] = validation.flow_key(rate_key, "rate")
    if key_ttl is not None:
        changes["key_ttl"] = window_seconds(key_ttl)
    if retries is not None:
        changes["retries"] = _retries(retries)
    if timeout is not None or expires is not None:
        changes["meta"] = flow_meta(base.meta, timeout, expires)
    if delay is not None and at is not None:
        raise ConfigurationError("give either delay= or at=, not both")
    if delay is not None:
        changes["delay"], changes["at"] = seconds(delay, "delay"), None
    if at is not None:
        changes["at"], changes["delay"] = due_at(at, "at="), 0.0
    if key is not None:
        changes["key"] = validation.dedup_key(key)
    if priority is not None:
        changes["priority"] = validation.priority(priority)
    if queue is not None:
        changes["queue"] = validation.queue_name(queue)
    if connection is not None:
        changes["connection"] = connection
    options = replace(base, **changes)
    if options.key_ttl is not None and options.key is None:
        raise ConfigurationError("key_ttl= needs a dedup key: give key= too")
    if options.run_anyway and not options.after:
        raise ConfigurationError("run_anyway= needs jobs to wait on: give after= too")
    return options


def window_seconds(key_ttl: float | timedelta) -> float:
    """A dedup window's length: finite seconds (or a timedelta), > 0, at most ten years."""
    value = seconds(key_ttl, "key_ttl")
    if value <= 0:
        raise ConfigurationError(f"key_ttl must be > 0 seconds, got {key_ttl!r}")
    return value


def _retries(retries: int) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"retries must be an int >= 0, got {retries!r}")
    return retries


def flow_meta(
    meta: tuple[tuple[str, float], ...],
    timeout: float | timedelta | None,
    expires: float | timedelta | datetime | None,
) -> tuple[tuple[str, float], ...]:
    """The per-enqueue timeout and expiry, as they travel in the payload's meta (read by
    `taskrunner.worker.flow`): `timeout` seconds, and `expires_in` seconds after the enqueue
    or `expires_at` an epoch time."""
    values = dict(meta)
    if timeout is not None:
        values[META_TIMEOUT] = seconds(timeout, "timeout")
        if values[META_TIMEOUT] <= 0:
            raise ConfigurationError(f"timeout must be > 0 seconds, got {timeout!r}")
    if isinstance(expires, datetime):
        values.pop(META_EXPIRES_IN, None)
        values[META_EXPIRES_AT] = due_at(expires, "expires=")
    elif expires is not None:
        values.pop(META_EXPIRES_AT, None)
        values[META_EXPIRES_IN] = seconds(expires, "expires")
        if values[META_EXPIRES_IN] <= 0:
            raise ConfigurationError(f"expires must be > 0 seconds, got {expires!r}")
    return tuple(values.items())


class JobPlan:
    """What every job of one task enqueued with one `EnqueueOptions` shares: the task's
    settings overridden by the options, worked out once (when the task is declared, or
    `options(...)` makes a new one) so that each enqueue only adds its id, payload and flow
    fields (see `job`)."""

    __slots__ = (
        "after",
        "at",
        "delay",
        "key",
        "key_ttl",
        "max_attempts",
        "meta",
        "priority",
        "queue",
        "run_anyway",
        "task",
    )

    def __init__(
        self, task: str, queue: str, priority: int, retries: int, options: EnqueueOptions
    ) -> None:
        self.task = task
        self.queue = options.queue or queue
        self.priority = priority if options.priority is None else options.priority
        self.max_attempts = policy.max_attempts(
            retries if options.retries is None else options.retries
        )
        self.key = options.key
        self.delay = options.delay
        self.at = options.at
        self.key_ttl = options.key_ttl
        self.after = options.after
        self.run_anyway = options.run_anyway
        # the per-enqueue timeout and expiry, as the payload carries them: shared by every
        # call's payload (read only by the encoding), None without any
        self.meta: dict[str, Any] | None = dict(options.meta) or None

    def job(self, payload: bytes, flow: FlowFields = NO_FLOW) -> NewJob:
        """The job of one call: a new id, the call's `payload` and `flow` fields.

        The fields are passed by position, in `NewJob`'s order (a keyword call of its 18
        fields costs about twice as much); `tests/test_enqueue_plan.py` checks the order."""
        return NewJob(
            new_job_id(),
            self.task,
            self.queue,
            payload,
            self.priority,
            self.max_attempts,
            self.key,
            self.delay,
            self.at,
            self.key_ttl,
            flow.limit_key,
            flow.limit_max,
            flow.rate_key,
            flow.rate_max,
            flow.rate_per,
            None,  # batch_id: `runner.batch` sets it on the prepared call
            self.after,
            self.run_anyway,
        )
