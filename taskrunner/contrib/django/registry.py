"""The taskrunner side of one `TASKS` alias: its `TaskRunner` and its Django tasks.

Django makes a backend object per alias and per thread; they all share this `Registry`, so
one runner (one connection pool, one loop for the blocking calls) serves every thread of the
process. A Django task is registered when it is declared: the framework validates every
`Task` it creates with the task's backend, and `TaskrunnerBackend.validate_task` registers
it here, under its module path, as a taskrunner task of that name. A worker runs only the
tasks registered in its process: it imports the `tasks` module of every installed app (and
the modules `OPTIONS["modules"]` names) to find them, and a job names no code to import.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from django.utils.module_loading import autodiscover_modules

from taskrunner import _validation as validation
from taskrunner.contrib.django.calls import job_function
from taskrunner.contrib.django.framework import DjangoTask, InvalidTask
from taskrunner.contrib.django.options import BackendOptions
from taskrunner.errors import TaskrunnerError
from taskrunner.job import JobInfo
from taskrunner.runner import TaskRunner
from taskrunner.task import Task as JobTask


class Registry:
    """The runner of one alias and its tasks: Django's by module path, and the taskrunner
    task each one is enqueued as."""

    def __init__(self, alias: str, options: BackendOptions, sender: type) -> None:
        self.alias = alias
        self.options = options
        self.sender = sender  # the backend class, the sender of the framework's signals
        self.runner = TaskRunner(
            options.url, result_ttl=options.result_ttl, failed_ttl=options.failed_ttl
        )
        self.declared: dict[str, DjangoTask] = {}
        self.job_tasks: dict[str, JobTask[..., Any]] = {}
        self._lock = threading.Lock()
        self._discovered = False

    def register(self, task: DjangoTask) -> JobTask[..., Any]:
        """The taskrunner task that runs `task`, registered at its first sight. Raises the
        framework's `InvalidTask` for a name or queue taskrunner does not allow."""
        path = task.module_path
        known = self.job_tasks.get(path)
        if known is not None and self.declared[path].func is task.func:
            return known
        try:
            validation.task_name(path)
            validation.queue_name(task.queue_name)
        except TaskrunnerError as exc:
            raise InvalidTask(str(exc)) from None
        with self._lock:
            self.declared[path] = task  # a module imported again declares its tasks anew
            if path not in self.job_tasks:
                settings = self.options
                self.job_tasks[path] = self.runner.task(
                    name=path,
                    queue=task.queue_name,
                    priority=-task.priority,
                    retries=settings.retries,
                    timeout=settings.timeout,
                )(job_function(self, path, task))
            return self.job_tasks[path]

    def task_of(self, info: JobInfo) -> DjangoTask | None:
        """The Django task a job runs, as enqueued (its priority and queue), or None if the
        job is not one of this alias's tasks (after importing the task modules once)."""
        task = self.declared.get(info.task)
        if task is None and not self._discovered:
            self.discover()
            task = self.declared.get(info.task)
        if task is None:
            return None
        if task.priority == -info.priority and task.queue_name == info.queue:
            return task
        try:
            return task.using(priority=-info.priority, queue_name=info.queue)
        except InvalidTask:  # the settings changed since: the declared task is still it
            return task

    def discover(self) -> None:
        """Import the modules that declare tasks: the `tasks` module of each installed app,
        and those of `OPTIONS["modules"]`."""
        autodiscover_modules("tasks")
        for module in self.options.modules:
            importlib.import_module(module)
        self._discovered = True


_registries: dict[tuple[str, BackendOptions], Registry] = {}
_registries_lock = threading.Lock()


def registry_for(alias: str, options: BackendOptions, sender: type) -> Registry:
    """The registry shared by every backend object of `alias` with these options."""
    key = (alias, options)
    with _registries_lock:
        registry = _registries.get(key)
        if registry is None:
            registry = _registries[key] = Registry(alias, options, sender)
        return registry
