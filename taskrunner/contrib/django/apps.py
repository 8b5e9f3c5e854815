"""The Django app that brings the `taskrunner_worker` management command."""

from django.apps import AppConfig


class TaskrunnerConfig(AppConfig):
    """`INSTALLED_APPS = [..., "taskrunner.contrib.django"]`, labelled `taskrunner`."""

    name = "taskrunner.contrib.django"
    label = "taskrunner"
    verbose_name = "taskrunner"
