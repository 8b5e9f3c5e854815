"""Settings of the example site. The environment picks the databases:

- `TASKRUNNER_URL`: where taskrunner keeps the jobs (default Redis on localhost);
- `DJANGO_DB_ENGINE` (`sqlite`, the default, or `postgresql`) and `DJANGO_DB_NAME`: the
  site's own database; `DJANGO_TEST_DB_NAME`: the SQLite file the tests use;
- `EMAIL_DIR`: where the welcome emails are written, one file each.
"""

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "only-for-the-example-never-in-production")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django_tasks",  # the Tasks framework (the backport; Django 6 has it built in)
    "taskrunner.contrib.django",  # brings `manage.py taskrunner_worker`
    "newsletter",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "mysite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.csrf"]},
    }
]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def database() -> dict[str, Any]:
    name = os.environ.get("DJANGO_DB_NAME")
    if os.environ.get("DJANGO_DB_ENGINE", "sqlite") == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name or "django_site",
            "HOST": os.environ.get("DJANGO_DB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJANGO_DB_PORT", "5432"),
            "USER": os.environ.get("DJANGO_DB_USER", "postgres"),
            "CONN_MAX_AGE": 0,  # the worker closes its connections after each job
        }
    test_name = os.environ.get("DJANGO_TEST_DB_NAME", str(BASE_DIR / "test-db.sqlite3"))
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name or str(BASE_DIR / "db.sqlite3"),
        "TEST": {"NAME": test_name},  # a file, so that the tests' worker process shares it
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }


DATABASES = {"default": database()}

# --8<-- [start:tasks]
TASKS = {
    "default": {
        "BACKEND": "taskrunner.contrib.django.TaskrunnerBackend",
        "QUEUES": ["default", "crm"],
        "OPTIONS": {
            "url": os.environ.get("TASKRUNNER_URL", "redis://127.0.0.1:6379/0"),
            "retries": 2,  # two more attempts for a task that raises (default: none)
        },
    }
}
# --8<-- [end:tasks]

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get("EMAIL_DIR", str(BASE_DIR / "sent-mail"))
DEFAULT_FROM_EMAIL = "news@example.com"
