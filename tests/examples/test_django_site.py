"""examples/django_site: the Django site's own tests (`manage.py test`, Django's runner),
which start a worker process of their own, run on Redis (the site's database in SQLite)
and on Postgres (the site's database there too); and `import taskrunner` imports nothing of
Django, so the core works without it installed."""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.examples.conftest import POSTGRES_URL, REDIS_URL, REPO, shell_env

SITE = REPO / "examples" / "django_site"
SITE_TESTS = SITE / "newsletter" / "tests.py"
# what docs/django.md and docs/examples.md include of the site, which its tests run
INCLUDED = (
    "examples/django_site/mysite/settings.py",
    "examples/django_site/newsletter/tasks.py",
    "examples/django_site/newsletter/views.py",
)


def test_the_core_imports_nothing_of_django() -> None:
    code = (
        "import sys, taskrunner, taskrunner.cli, taskrunner.contrib\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'django_tasks'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def run_site_tests(tmp_path: Path, **env: str) -> str:
    """`python manage.py test` in the site's folder; its output, once it passed."""
    assert SITE_TESTS.is_file() and all((REPO / path).is_file() for path in INCLUDED)
    done = subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput", "-v", "2"],
        cwd=SITE,
        env=shell_env(EMAIL_DIR=str(tmp_path / "mail"), **env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    ran = re.search(r"^Ran (\d+) tests?", output, re.M)
    assert ran is not None and int(ran[1]) >= 8, output
    return output


def test_the_site_on_redis(redis_prefix: str, tmp_path: Path) -> None:
    output = run_site_tests(
        tmp_path,
        TASKRUNNER_URL=f"{REDIS_URL}?prefix={redis_prefix}",
        DJANGO_TEST_DB_NAME=str(tmp_path / "test.sqlite3"),
    )
    assert "OK (skipped=1)" in output  # only the Postgres session count is left out


@pytest.fixture
def site_database() -> Iterator[str]:
    """A name for the site's database; Django's runner creates and drops `test_<name>`,
    and it is dropped here too if a run broke off."""
    name = f"djsite_{secrets.token_hex(5)}"
    yield name

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "test_{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def test_the_site_on_postgres(pg_schema: str, site_database: str, tmp_path: Path) -> None:
    server = urlsplit(POSTGRES_URL)
    output = run_site_tests(
        tmp_path,
        TASKRUNNER_URL=f"{POSTGRES_URL}?schema={pg_schema}",
        DJANGO_DB_ENGINE="postgresql",
        DJANGO_DB_NAME=site_database,
        DJANGO_DB_HOST=server.hostname or "127.0.0.1",
        DJANGO_DB_PORT=str(server.port or 5432),
        DJANGO_DB_USER=server.username or "postgres",
    )
    assert re.search(r"^OK$", output, re.M), output  # nothing skipped


def test_the_backend_options_are_checked() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from taskrunner.contrib.django import BackendOptions

    read = BackendOptions.read("default", {"url": "redis://h/0", "retries": 2, "modules": ["a"]})
    assert (read.url, read.retries, read.modules, read.timeout) == ("redis://h/0", 2, ("a",), None)
    assert BackendOptions.read("default", {"result_ttl": None}).result_ttl is None
    bad: list[tuple[dict[str, object], str]] = [
        ({"retry": 1}, "unknown retry"),
        ({"retries": -1}, "retries must be a whole number"),
        ({"retries": True}, "retries must be a whole number"),
        ({"timeout": 0}, "timeout must be more than 0"),
        ({"result_ttl": -5}, "result_ttl must not be negative"),
        ({"modules": "app.jobs"}, "modules must be a list"),
        ({"url": ""}, "url must be a backend URL"),
    ]
    for options, message in bad:
        with pytest.raises(ImproperlyConfigured, match=message):
            BackendOptions.read("default", options)
