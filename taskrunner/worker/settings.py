"""How a worker is set up (`WorkerSettings`) and what it counts (`WorkerCounters`)."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any

from taskrunner import _validation as validation
from taskrunner.errors import ConfigurationError
from taskrunner.retry import MAX_SECONDS

MAX_CONCURRENCY = 100_000  # jobs one worker claims and runs at once, at the most


def _check_seconds(name: str, value: float, *, zero_allowed: bool) -> None:
    if not (0 <= value <= MAX_SECONDS and (zero_allowed or value > 0)):  # NaN fails too
        least = "0" if zero_allowed else "more than 0"
        raise ConfigurationError(
            f"{name} must be a number of seconds from {least} to ten years, got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker runs.

    `queues`: the queues to take jobs from (None: every queue the runner's tasks use).
    `grace`: seconds running jobs get to finish after a stop before they are put back.
    `lease`: seconds a claimed job stays owned without a heartbeat; a worker that dies
    loses its jobs to others after this long. `heartbeat`: seconds between lease renewals
    (default lease / 3). `poll`: the longest an idle worker blocks on the backend before
    checking again. `burst`: exit once no job is due and none is running. `scheduler`: enqueue
    the ticks of recurring tasks.
    """

    concurrency: int = 10
    queues: tuple[str, ...] | None = None
    grace: float = 25.0
    lease: float = 30.0
    heartbeat: float | None = None
    poll: float = 5.0
    reclaim_interval: float | None = None
    burst: bool = False
    scheduler: bool = True

    def __post_init__(self) -> None:
        if (
            isinstance(self.concurrency, bool)
            or not isinstance(self.concurrency, int)
            or not 1 <= self.concurrency <= MAX_CONCURRENCY
        ):
            raise ConfigurationError(
                f"concurrency must be an int from 1 to {MAX_CONCURRENCY}, got {self.concurrency!r}"
            )
        if self.queues is not None:
            given: Any = self.queues
            queues = tuple(
                validation.queue_name(q) for q in ((given,) if isinstance(given, str) else given)
            )
            if not queues:
                raise ConfigurationError("queues must name at least one queue (or be None)")
            object.__setattr__(self, "queues", queues)
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
    released: int = 0
    lost: int = 0
    rejected: int = 0  # outcomes the backend refused: the attempt no longer owned the job
