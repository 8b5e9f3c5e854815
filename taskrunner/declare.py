"""Declaring a task: the checks `@runner.task` makes before a function becomes a `Task`
(its name is free, a recurring task takes no arguments, tasks sharing a limit or rate key
share its numbers) and the kind of task it becomes."""

from __future__ import annotations

import inspect
from collections.abc import Callable, MutableMapping
from typing import Any

from taskrunner.errors import ConfigurationError, DuplicateTask
from taskrunner.limits import check_shared
from taskrunner.task import AsyncTask, Enqueuer, SyncTask, Task, TaskSettings


def declare(
    runner: Enqueuer,
    tasks: MutableMapping[str, Task[..., Any]],
    fn: Callable[..., Any],
    settings: TaskSettings,
) -> Task[..., Any]:
    """Make `fn` a task of `runner` with `settings` and add it to `tasks` (by name)."""
    if settings.name in tasks:
        raise DuplicateTask(
            f"a task named {settings.name!r} is already registered; give one of them "
            "another name with @runner.task(name=...)"
        )
    if settings.schedule is not None:
        require_no_arguments(fn, settings.name)
    cls = AsyncTask if is_async_callable(fn) else SyncTask
    task: Task[..., Any] = cls(runner, fn, settings)
    flows = {name: (t.settings.queue, t.flow) for name, t in tasks.items()}
    check_shared(flows, settings.name, settings.queue, task.flow)
    tasks[settings.name] = task
    return task


def default_task_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "task"
    qualname = str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "task"))
    qualname = qualname.replace("<locals>.", "").replace("<", "").replace(">", "")
    return f"{module}.{qualname}"


def require_no_arguments(fn: Callable[..., Any], name: str) -> None:
    try:
        inspect.signature(fn).bind()
    except TypeError:
        raise ConfigurationError(
            f"task {name!r} has a schedule, so it is called without arguments; give its "
            "parameters default values"
        ) from None
    except ValueError:  # no signature to inspect (some builtins): let calls tell
        pass


def is_async_callable(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004
    )
