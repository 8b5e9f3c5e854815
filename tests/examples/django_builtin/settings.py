"""Settings of a tiny project on Django's own `django.tasks` (Django 6 and later): no
backport installed, taskrunner as the Tasks backend, the backend's URL from TASKRUNNER_URL."""

import os

SECRET_KEY = "only-for-the-test"
USE_TZ = True
INSTALLED_APPS = ["taskrunner.contrib.django", "greetings"]
DATABASES: dict[str, object] = {}
TASKS = {
    "default": {
        "BACKEND": "taskrunner.contrib.django.TaskrunnerBackend",
        "QUEUES": ["default", "loud"],
        "OPTIONS": {"url": os.environ["TASKRUNNER_URL"]},
    }
}
