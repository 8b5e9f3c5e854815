"""The Tasks framework this integration builds on: Django's own `django.tasks` (Django 6 and
later, on Python 3.12 or newer) when it can be imported, else the `django-tasks` backport,
which offers the same API as `django_tasks` on Django 4.2 and later. The rest of the package
imports the framework's names from here, so the same code serves both."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # its parent package is missing
        return False


# mypy reads the backport's names, whose API is the one Django adopted
if not TYPE_CHECKING and _importable("django.tasks"):
    from django.tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import Task, TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started

    FRAMEWORK = "django.tasks"
else:
    try:
        from django_tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import Task, TaskError
        from django_tasks.exceptions import InvalidTaskError as InvalidTask
        from django_tasks.exceptions import TaskResultDoesNotExist
        from django_tasks.signals import task_enqueued, task_finished, task_started
    except ImportError as exc:
        raise ImportError(
            "taskrunner.contrib.django needs Django's Tasks framework: django.tasks "
            "(Django 6+) or the django-tasks backport; pip install 'taskrunner-jobs[django]'"
        ) from exc

    FRAMEWORK = "django_tasks"

if TYPE_CHECKING:
    DjangoTask = Task[Any, Any]  # a task of any signature
else:
    DjangoTask = Task  # Django's own Task (unlike the backport's) is not generic at runtime

__all__ = [
    "FRAMEWORK",
    "BaseTaskBackend",
    "DjangoTask",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
