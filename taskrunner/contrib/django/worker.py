"""The worker's side: the runner that runs a `TASKS` alias's jobs, with Django set up.

`python manage.py taskrunner_worker` is the way to run it (see its module). It runs
`taskrunner run taskrunner.contrib.django.worker:runner`, which also works by itself with
`DJANGO_SETTINGS_MODULE` set (and `TASKRUNNER_DJANGO_BACKEND` naming the alias, default
"default"): reading `runner` sets Django up, imports the modules that declare tasks, and
answers the alias's runner with every task registered.
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import SyncToAsync
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from taskrunner.context import State
from taskrunner.contrib.django.backend import TaskrunnerBackend
from taskrunner.contrib.django.framework import task_backends
from taskrunner.errors import ConfigurationError
from taskrunner.runner import TaskRunner

ALIAS_VARIABLE = "TASKRUNNER_DJANGO_BACKEND"
_hooked: weakref.WeakSet[TaskRunner] = weakref.WeakSet()  # runners with the shutdown hook


def backend_of(alias: str) -> TaskrunnerBackend:
    """The `TaskrunnerBackend` of `TASKS[alias]`, with Django set up first if need be."""
    if not apps.ready:
        django.setup()
    try:
        backend = task_backends[alias]
    except ImproperlyConfigured as exc:  # no such alias, or its backend cannot be built
        raise ConfigurationError(f'TASKS["{alias}"]: {exc}') from None
    if not isinstance(backend, TaskrunnerBackend):
        raise ConfigurationError(
            f'TASKS["{alias}"] uses {type(backend).__name__}, not '
            "taskrunner.contrib.django.TaskrunnerBackend: a taskrunner worker has nothing to run"
        )
    return backend


def worker_runner(alias: str) -> TaskRunner:
    """The runner of `TASKS[alias]` with every task it may run registered."""
    registry = backend_of(alias).registry
    registry.discover()
    if registry.runner not in _hooked:
        registry.runner.on_shutdown(_release_sync_thread)
        _hooked.add(registry.runner)
    return registry.runner


def worker_queues(alias: str) -> list[str] | None:
    """The queues a worker of `alias` serves unless told: those of the alias's `QUEUES`
    (None if `QUEUES` is empty, which allows any queue: then those of its tasks)."""
    queues = backend_of(alias).queues
    return sorted(queues) if queues else None


async def _release_sync_thread(state: State) -> None:
    """Let the thread where `async def` tasks ran Django's sync code (asgiref's; idle once
    the worker stopped) end, so that the process exits without waiting for it; a new one
    starts if anything needs it again."""
    idle = SyncToAsync.single_thread_executor
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)
    idle.shutdown(wait=False)


def __getattr__(name: str) -> TaskRunner:
    if name == "runner":
        return worker_runner(os.environ.get(ALIAS_VARIABLE) or "default")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
