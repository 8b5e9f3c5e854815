"""Run by tests/examples/test_django_builtin.py with a Python that has Django 6 (and not
the `django-tasks` backport): enqueue tasks through `django.tasks`, run them with
`manage.py taskrunner_worker --burst` in a process of its own, and print what their
`TaskResult`s say, as JSON, for the test to check."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
django.setup()

from django.tasks import TaskResultStatus, default_task_backend, task_backends  # noqa: E402
from greetings.tasks import broken, greet, shout, which_attempt  # noqa: E402

from taskrunner import InvalidArguments  # noqa: E402
from taskrunner.contrib.django.framework import FRAMEWORK  # noqa: E402

HERE = Path(__file__).resolve().parent


def shown(result: Any) -> dict[str, Any]:
    return {
        "status": result.status.name,
        "value": result.return_value if result.status == TaskResultStatus.SUCCESSFUL else None,
        "errors": [error.exception_class.__name__ for error in result.errors],
        "attempts": result.attempts,
        "finished": result.is_finished,
    }


def main() -> None:
    results = {
        "greet": greet.enqueue("ada", punctuation="?"),
        "shout": shout.enqueue("quiet"),
        "which_attempt": which_attempt.enqueue("first"),
        "broken": broken.enqueue(),
    }
    report: dict[str, Any] = {
        "framework": FRAMEWORK,
        "backend": type(task_backends["default"]).__name__,
        "ready": [r.status.name for r in results.values()],
    }
    try:
        greet.enqueue()
    except InvalidArguments as exc:
        report["refused"] = str(exc)
    worker = [sys.executable, "-m", "django", "taskrunner_worker", "--burst"]
    subprocess.run(worker, cwd=HERE, check=True, timeout=120)
    for name, result in results.items():
        result.refresh()
        report[name] = shown(result)
    fetched = greet.get_result(results["greet"].id)
    report["fetched"] = shown(fetched)
    job = default_task_backend.registry.runner.get_job_sync(results["shout"].id)
    report["shout_job"] = {"queue": job.queue, "priority": job.priority, "task": job.task}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
