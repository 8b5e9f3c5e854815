"""What a worker asks of the runner that hosts it (a `TaskRunner`): its backend, its tasks and
their shared state, the startup and shutdown hooks, and the defaults of its policy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from taskrunner.backend import Backend
from taskrunner.context import State
from taskrunner.hooks import RunnerHooks
from taskrunner.task import Enqueuer, Task


class WorkerHost(Enqueuer, Protocol):
    """The runner a `Worker` runs the jobs of; it enqueues the recurring tasks' ticks too."""

    @property
    def backend(self) -> Backend: ...

    @property
    def tasks(self) -> Mapping[str, Task[..., Any]]: ...

    @property
    def state(self) -> State: ...

    @property
    def hooks(self) -> RunnerHooks: ...

    @property
    def default_queue(self) -> str: ...

    @property
    def result_ttl(self) -> float | None: ...

    @property
    def failed_ttl(self) -> float | None: ...

    @property
    def backoff(self) -> Callable[[int], float]: ...

    async def connect(self) -> None: ...

    async def start_resources(self) -> None: ...

    async def stop_resources(self) -> None: ...
