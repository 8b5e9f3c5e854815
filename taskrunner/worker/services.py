"""What the executions of one worker share (`Services`), handed to each `Execution`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from taskrunner.backend import Beat
from taskrunner.context import State
from taskrunner.dependencies import Fetch
from taskrunner.policy import Policy
from taskrunner.task import Task
from taskrunner.worker.settings import WorkerCounters


@dataclass(frozen=True, slots=True)
class Services:
    """What the executions of one worker share: the registered `tasks` and the hooks'
    `state`, the `policy`, the `counters` they count into, the `limiter` of threads for `def`
    tasks, the worker's id (for logs), `notify_progress` (asks for a heartbeat now, from any
    thread), `store_progress` (sends the beat a callable makes, after any heartbeat) and
    `fetch` (reads jobs: a dependent's dependencies)."""

    tasks: Mapping[str, Task[..., Any]]
    state: State
    policy: Policy
    counters: WorkerCounters
    limiter: anyio.CapacityLimiter
    worker_id: str
    notify_progress: Callable[[], None]
    store_progress: Callable[[Callable[[], Beat | None]], Awaitable[None]]
    fetch: Fetch
