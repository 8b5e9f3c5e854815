"""taskrunner as a backend of Django's Tasks framework (`django.tasks`, or the
`django-tasks` backport before Django 6):

    TASKS = {
        "default": {
            "BACKEND": "taskrunner.contrib.django.TaskrunnerBackend",
            "OPTIONS": {"url": "redis://localhost:6379/0"},
        }
    }

`@task` functions are enqueued as taskrunner jobs and their `TaskResult`s read back from
taskrunner's records; `python manage.py taskrunner_worker` (with this package in
`INSTALLED_APPS`) runs them. See docs/django.md.
"""

from taskrunner.contrib.django.backend import TaskrunnerBackend
from taskrunner.contrib.django.options import BackendOptions

__all__ = ["BackendOptions", "TaskrunnerBackend"]
