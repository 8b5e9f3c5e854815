"""Hooks: functions a worker calls around its work.

Lifecycle hooks (`runner.on_startup`, `runner.on_shutdown`) run when the first worker of a
runner starts and when the last one stops. Outcome hooks run after an attempt's outcome is
recorded in the backend: `on_success` (the job succeeded), `on_retry` (the attempt failed
and another follows) and `on_failure` (the job failed for good: no attempt left, an error
not retried, or a job that could not run at all). They are given per task
(`@runner.task(on_failure=...)`) and per runner (`@runner.on_failure`), as plain functions
or coroutine functions taking one `AttemptEnded`; a task's own hook runs first, then the
runner's, in the order they were added. A hook that raises is logged and changes nothing:
not the job's outcome, not the worker.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from taskrunner.context import State
from taskrunner.errors import ConfigurationError, JobError
from taskrunner.job import JobInfo


class HookKind(enum.StrEnum):
    """Which outcome an outcome hook is for."""

    SUCCESS = "on_success"
    RETRY = "on_retry"
    FAILURE = "on_failure"


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    """What an outcome hook is given: `job`, the job as its attempt left it (its state is
    succeeded, failed, or queued or scheduled for a retry; `job.result` and `job.error` as
    stored), `kind` (the hook's kind), `exception` (what the task raised; None on success
    and for a job that could not run at all, e.g. an unknown task, where `job.error` says
    why), `retry_in` (seconds until the next attempt, for a retry) and `worker` (the id of
    the worker that ran it)."""

    job: JobInfo
    kind: HookKind
    exception: BaseException | None = None
    retry_in: float | None = None
    worker: str = ""

    @property
    def error(self) -> JobError | None:
        """The failure as recorded with the job (type, message, traceback)."""
        return self.job.error

    @property
    def tags(self) -> dict[str, str]:
        """The job's facts as short strings, for an error tracker's tags."""
        return {
            "taskrunner.job_id": self.job.id,
            "taskrunner.task": self.job.task,
            "taskrunner.queue": self.job.queue,
            "taskrunner.attempt": f"{self.job.attempt}/{self.job.max_attempts}",
            "taskrunner.outcome": self.kind.value.removeprefix("on_"),
        }


OutcomeHook = Callable[[AttemptEnded], Awaitable[None] | None]
LifecycleHook = Callable[[State], Awaitable[None]]


def checked(hook: object, what: str) -> OutcomeHook:
    """`hook` if it is callable; a `ConfigurationError` naming `what` otherwise."""
    if not callable(hook):
        raise ConfigurationError(f"{what} takes a function (given one AttemptEnded), got {hook!r}")
    return hook


@dataclass(frozen=True, slots=True)
class TaskHooks:
    """A task's own outcome hooks (None: none of that kind)."""

    on_success: OutcomeHook | None = None
    on_retry: OutcomeHook | None = None
    on_failure: OutcomeHook | None = None

    def __post_init__(self) -> None:
        for kind in HookKind:
            if (hook := getattr(self, kind.value)) is not None:
                checked(hook, f"{kind.value}=")

    def of(self, kind: HookKind) -> tuple[OutcomeHook, ...]:
        hook: OutcomeHook | None = getattr(self, kind.value)
        return () if hook is None else (hook,)


NO_HOOKS = TaskHooks()


def own_hooks(
    on_success: OutcomeHook | None, on_retry: OutcomeHook | None, on_failure: OutcomeHook | None
) -> TaskHooks:
    """A task's own hooks; `NO_HOOKS` itself when it has none (a worker tells it at once)."""
    if on_success is None and on_retry is None and on_failure is None:
        return NO_HOOKS
    return TaskHooks(on_success, on_retry, on_failure)


@dataclass(slots=True)
class RunnerHooks:
    """A runner's hooks: lifecycle hooks, and outcome hooks by kind."""

    startup: list[LifecycleHook] = field(default_factory=list)
    shutdown: list[LifecycleHook] = field(default_factory=list)
    outcome: dict[HookKind, list[OutcomeHook]] = field(
        default_factory=lambda: {kind: [] for kind in HookKind}
    )
    changes: int = 0  # outcome hooks added so far: a worker's cache of them is stale after

    def add(self, kind: HookKind, hook: OutcomeHook) -> None:
        """Add a runner-wide outcome hook of `kind`."""
        self.outcome[kind].append(hook)
        self.changes += 1

    def for_task(self, kind: HookKind, task_hooks: TaskHooks | None) -> tuple[OutcomeHook, ...]:
        """The hooks to call for `kind` of a job whose task has `task_hooks` (None: a job
        of no registered task), the task's first."""
        own = () if task_hooks is None else task_hooks.of(kind)
        return own + tuple(self.outcome[kind])


class HookMethods:
    """The hook decorators of `TaskRunner`, and the running of its lifecycle hooks."""

    hooks: RunnerHooks
    _resource_users: int
    state: State

    def on_startup(self, hook: LifecycleHook) -> LifecycleHook:
        """Run `await hook(runner.state)` when a worker starts, before it takes jobs."""
        self.hooks.startup.append(hook)
        return hook

    def on_shutdown(self, hook: LifecycleHook) -> LifecycleHook:
        """Run `await hook(runner.state)` when the last worker stops."""
        self.hooks.shutdown.append(hook)
        return hook

    def on_success(self, hook: OutcomeHook) -> OutcomeHook:
        """Call `hook(ended)` (an `AttemptEnded`) after any job of this runner succeeded."""
        self.hooks.add(HookKind.SUCCESS, checked(hook, "on_success"))
        return hook

    def on_retry(self, hook: OutcomeHook) -> OutcomeHook:
        """Call `hook(ended)` after an attempt of any job failed and another will follow."""
        self.hooks.add(HookKind.RETRY, checked(hook, "on_retry"))
        return hook

    def on_failure(self, hook: OutcomeHook) -> OutcomeHook:
        """Call `hook(ended)` after any job failed for good (no attempt follows)."""
        self.hooks.add(HookKind.FAILURE, checked(hook, "on_failure"))
        return hook

    async def start_resources(self) -> None:
        """Run the startup hooks once, however many workers share this runner."""
        self._resource_users += 1
        if self._resource_users == 1:
            for hook in self.hooks.startup:
                await hook(self.state)

    async def stop_resources(self) -> None:
        """Run the shutdown hooks once the last worker sharing this runner stops."""
        self._resource_users -= 1
        if self._resource_users == 0:
            for hook in reversed(self.hooks.shutdown):
                await hook(self.state)
