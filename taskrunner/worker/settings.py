"""How a worker is set up (`WorkerSettings`) and what it counts (`WorkerCounters`)."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from taskrunner import _validation as validation
from taskrunner.errors import ConfigurationError
from taskrunner.retry import MAX_SECONDS

MAX_CONCURRENCY = 100_000  # jobs one worker claims and runs at once, at the most


class _DefaultConcurrency(int):
    """The concurrency nobody gave: 10, or the sum of the queues' limits."""


DEFAULT_CONCURRENCY = _DefaultConcurrency(10)


def _check_limit(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigurationError(
            f"{name} must be an int from 1 to {MAX_CONCURRENCY}, got {value!r}"
        )
    return int(value)


def _queue_names(given: Any) -> tuple[str, ...]:
    names = tuple(validation.queue_name(q) for q in ((given,) if isinstance(given, str) else given))
    if not names:
        raise ConfigurationError("queues must name at least one queue (or be None)")
    if len(set(names)) != len(names):
        raise ConfigurationError(f"queues names a queue twice: {', '.join(names)}")
    return names


def _queue_limits(given: Mapping[Any, Any]) -> Mapping[str, int]:
    limits = {
        validation.queue_name(q): _check_limit(f"the limit of queue {q!r}", n)
        for q, n in given.items()
    }
    if not limits:
        raise ConfigurationError("queues must name at least one queue (or be None)")
    return MappingProxyType(limits)


def _check_seconds(name: str, value: float, *, zero_allowed: bool) -> None:
    if not (0 <= value <= MAX_SECONDS and (zero_allowed or value > 0)):  # NaN fails too
        least = "0" if zero_allowed else "more than 0"
        raise ConfigurationError(
            f"{name} must be a number of seconds from {least} to ten years, got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker runs.

    `concurrency`: the most jobs the worker runs at once, all queues together (default 10,
    or with a mapping of queue limits, their sum).
    `queues`: the queues to take jobs from (None: every queue the runner's tasks use), as
    names that share `concurrency`, or as a mapping from name to the most jobs of that queue
    the worker runs at once (`{"emails": 5, "feeds": 20}`); `concurrency` still caps the
    total. Once set up, `queues` holds the names and `queue_limits` the mapping (or None).
    `grace`: seconds running jobs get to finish after a stop before they are put back.
    `lease`: seconds a claimed job stays owned without a heartbeat; a worker that dies
    loses its jobs to others after this long. `heartbeat`: seconds between lease renewals
    (default lease / 3). `poll`: the longest an idle worker blocks on the backend before
    checking again. `burst`: exit once no job is due and none is running. `scheduler`: enqueue
    the ticks of recurring tasks.
    """

    concurrency: int = DEFAULT_CONCURRENCY
    queues: Sequence[str] | Mapping[str, int] | None = None
    grace: float = 25.0
    lease: float = 30.0
    heartbeat: float | None = None
    poll: float = 5.0
    reclaim_interval: float | None = None
    burst: bool = False
    scheduler: bool = True
    queue_limits: Mapping[str, int] | None = field(default=None, init=False, hash=False)

    def __post_init__(self) -> None:
        given: Any = self.queues
        if isinstance(given, Mapping):
            limits = _queue_limits(given)
            object.__setattr__(self, "queue_limits", limits)
            object.__setattr__(self, "queues", tuple(limits))
        elif given is not None:
            object.__setattr__(self, "queues", _queue_names(given))
        concurrency: Any = self.concurrency
        if isinstance(concurrency, _DefaultConcurrency):
            total = (
                sum(self.queue_limits.values()) if self.queue_limits else int(DEFAULT_CONCURRENCY)
            )
            concurrency = min(total, MAX_CONCURRENCY)
        object.__setattr__(self, "concurrency", _check_limit("concurrency", concurrency))
        for name in ("grace", "lease", "poll"):
            _check_seconds(name, getattr(self, name), zero_allowed=name == "grace")
        if self.reclaim_interval is not None:
            _check_seconds("reclaim_interval", self.reclaim_interval, zero_allowed=False)
        if self.heartbeat is not None and not 0 < self.heartbeat < self.lease:
            raise ConfigurationError("heartbeat must be positive and shorter than lease")

    @property
    def heartbeat_interval(self) -> float:
        return self.heartbeat if self.heartbeat is not None else self.lease / 3

    @property
    def reclaim_every(self) -> float:
        if self.reclaim_interval is not None:
            return self.reclaim_interval
        return min(max(self.lease / 2, 0.05), 15.0)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(slots=True)
class WorkerCounters:
    """What a worker did, for logs and tests."""

    started: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    released: int = 0  # put back unfinished when the worker stopped
    snoozed: int = 0  # put back for later by the task itself (`Snooze`)
    lost: int = 0
    rejected: int = 0  # outcomes the backend refused: the attempt no longer owned the job
