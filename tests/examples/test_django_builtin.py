"""The Django integration on Django's own `django.tasks` (Django 6 and later, which needs
Python 3.12 or newer), not the `django-tasks` backport the rest of the suite runs on.

A virtualenv of its own, made once per run with uv from a Python >= 3.12 found on the
machine, holds Django 6 from PyPI and this repository's packages (editable); there the
tiny project in `django_builtin/` enqueues tasks through `django.tasks`, runs them with
`manage.py taskrunner_worker --burst`, and reports their `TaskResult`s as JSON."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.examples.conftest import POSTGRES_URL, REDIS_URL, REPO, shell_env

PROJECT = Path(__file__).resolve().parent / "django_builtin"
PYTHON_VARIABLE = "TASKRUNNER_TEST_PYTHON312"  # a Python >= 3.12 to use, if set
NEWER = ("python3.14", "python3.13", "python3.12")
PACKAGES = ("django>=6", "asyncpg>=0.29", "redis>=5")


def is_recent(python: str) -> bool:
    """Whether `python` runs and is 3.12 or newer."""
    check = "import sys; sys.exit(sys.version_info < (3, 12))"
    try:
        return (
            subprocess.run([python, "-c", check], capture_output=True, timeout=30).returncode == 0
        )
    except OSError:
        return False


def recent_python() -> str | None:
    """A Python >= 3.12: $TASKRUNNER_TEST_PYTHON312, one on the PATH, or one of pyenv's."""
    given = os.environ.get(PYTHON_VARIABLE)
    candidates = [given] if given else []
    candidates += [found for name in NEWER if (found := shutil.which(name))]
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{root}/versions/3.1[2-9]*/bin/python"), reverse=True)
    return next((python for python in candidates if is_recent(python)), None)


@pytest.fixture(scope="session")
def django6_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The interpreter of a virtualenv with Django 6 and taskrunner (made once per run)."""
    python = recent_python()
    if python is None:
        pytest.skip(f"no Python 3.12 or newer found (set {PYTHON_VARIABLE} to one)")
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    venv = tmp_path_factory.mktemp("django6") / "venv"
    subprocess.run([uv, "venv", "-q", "--python", python, str(venv)], check=True, timeout=120)
    local = [REPO, REPO / "backends" / "redis", REPO / "backends" / "postgres"]
    editable = [arg for path in local for arg in ("-e", str(path))]
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *PACKAGES,
         *editable],
        check=True,
        timeout=600,
    )  # fmt: skip
    return str(venv / "bin" / "python")


@pytest.fixture(params=["redis", "postgres"])
def backend_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        return f"{REDIS_URL}?prefix={request.getfixturevalue('redis_prefix')}"
    return f"{POSTGRES_URL}?schema={request.getfixturevalue('pg_schema')}"


def test_django_tasks_of_django_6_run_on_taskrunner(django6_python: str, backend_url: str) -> None:
    done = subprocess.run(
        [django6_python, "scenario.py"],
        cwd=PROJECT,
        env=shell_env(TASKRUNNER_URL=backend_url, DJANGO_SETTINGS_MODULE="settings"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert (report["framework"], report["backend"]) == ("django.tasks", "TaskrunnerBackend")
    assert report["ready"] == ["READY"] * 4
    assert "missing a required argument: 'name'" in report["refused"]
    succeeded = {"errors": [], "attempts": 1, "finished": True, "status": "SUCCESSFUL"}
    assert report["greet"] == report["fetched"] == {**succeeded, "value": "hello ada?"}
    assert report["shout"] == {**succeeded, "value": "QUIET"}  # an async def task
    context = report["which_attempt"]  # takes_context: the framework's TaskContext
    assert context["value"]["attempt"] == 1 and context["value"]["label"] == "first"
    assert report["broken"] == {
        "status": "FAILED", "value": None, "errors": ["LookupError"], "attempts": 1,
        "finished": True,
    }  # fmt: skip
    # Django's priority 10 (larger first) is taskrunner's -10 (smaller first)
    assert report["shout_job"] == {
        "queue": "loud",
        "priority": -10,
        "task": "greetings.tasks.shout",
    }
