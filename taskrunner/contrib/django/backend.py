"""`TaskrunnerBackend`: the Tasks framework's backend that stores tasks as taskrunner jobs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from django.core import checks
from django.utils import timezone

from taskrunner.backend import scheme_of
from taskrunner.contrib.django.framework import (
    BaseTaskBackend,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    task_enqueued,
)
from taskrunner.contrib.django.options import BackendOptions
from taskrunner.contrib.django.registry import Registry, registry_for
from taskrunner.contrib.django.results import ready_result, task_result
from taskrunner.errors import JobNotFound

P = ParamSpec("P")
T = TypeVar("T")


class TaskrunnerBackend(BaseTaskBackend):
    """Runs the tasks of a `TASKS` alias on taskrunner: `enqueue` stores a job (the task's
    module path is its task name, its arguments the job's), `get_result` reads the job back
    as a `TaskResult`, and `manage.py taskrunner_worker` runs the jobs.

    `OPTIONS`: see `BackendOptions` (`url`, `retries`, `timeout`, `result_ttl`,
    `failed_ttl`, `modules`). A task's priority (-100..100, larger first) becomes the job's
    priority negated (smaller first in taskrunner), its `queue_name` the job's queue, and
    `run_after` the job's due time.
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.settings = BackendOptions.read(alias, self.options)
        self.registry: Registry = registry_for(alias, self.settings, type(self))

    def validate_task(self, task: Task[Any, Any]) -> None:
        """The framework's checks, then taskrunner's (the module path must be a valid task
        name, the queue a valid queue name); a valid task is registered with the runner."""
        super().validate_task(task)
        self.registry.register(task)

    def enqueue(
        self,
        task: Task[P, T],
        args: P.args,  # type: ignore[valid-type]
        kwargs: P.kwargs,  # type: ignore[valid-type]
    ) -> TaskResult[T]:
        """Store a job that runs `task` with these arguments; returns its READY result.

        Arguments that do not fit the function raise taskrunner's `InvalidArguments` (a
        `TypeError`), and arguments JSON cannot carry `SerializationError` or the
        framework's `TypeError`, before anything is stored.
        """
        self.validate_task(task)
        job_task = self.registry.register(task).options(
            queue=task.queue_name, priority=-task.priority, at=_aware(task.run_after)
        )
        prepared = job_task.prepare(*args, **kwargs)
        result = ready_result(task, prepared.new.id, args, kwargs, self.alias, timezone.now())
        self.registry.runner.enqueue_many_sync([prepared])
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult[Any]:
        """The result of a job of this backend's tasks, read from taskrunner's record; the
        framework's `TaskResultDoesNotExist` if there is no such job (or its record expired,
        `result_ttl` after it ended), or if it is no job of a Django task of this alias."""
        try:
            info = self.registry.runner.get_job_sync(result_id)
        except JobNotFound:
            raise TaskResultDoesNotExist(result_id) from None
        task = self.registry.task_of(info)
        if task is None:
            raise TaskResultDoesNotExist(
                f"{result_id} is a job of {info.task!r}, which is no task of the "
                f"{self.alias!r} tasks backend"
            )
        return task_result(task, info, self.alias)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        """Django's system checks: a Django app needs a backend that other processes and
        blocking calls reach, so `memory://` is refused."""
        messages: Sequence[checks.CheckMessage] = []
        if scheme_of(self.registry.runner.url) == "memory":
            messages = [
                checks.Error(
                    f"the {self.alias!r} tasks backend has no taskrunner URL, or memory://",
                    hint='set TASKS[...]["OPTIONS"]["url"] (or TASKRUNNER_URL) to a redis:// '
                    "or postgresql:// URL that the web and worker processes share",
                    id="taskrunner.E001",
                )
            ]
        return messages


def _aware(moment: datetime | None) -> datetime | None:
    """`run_after` as an aware datetime: a naive one (allowed with `USE_TZ = False`) is in
    Django's current time zone, as Django reads naive datetimes."""
    if moment is None or timezone.is_aware(moment):
        return moment
    return timezone.make_aware(moment)
