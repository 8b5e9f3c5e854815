"""The backend URL: taskrunner's parameters are taken out, the rest reach asyncpg, and a
password never shows in an error."""

from __future__ import annotations

import pytest

from taskrunner import TaskRunner
from taskrunner.backend import load_backend
from taskrunner.errors import BackendError, ConfigurationError
from taskrunner_postgres import PostgresBackend, PostgresSettings
from taskrunner_postgres.settings import parse_url


def test_own_parameters_are_taken_out_and_the_rest_passed_through() -> None:
    dsn, settings = parse_url(
        "postgres://app:pw@db:5433/app?schema=my_jobs&sslmode=verify-full"
        "&sslrootcert=/etc/ca.pem&migrate=off&pool_max=4"
    )
    assert dsn == (
        "postgresql://app:pw@db:5433/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"
    )
    assert (settings.schema, settings.migrate, settings.pool_max) == ("my_jobs", False, 4)


def test_defaults() -> None:
    dsn, settings = parse_url("postgresql://localhost/app")
    assert dsn == "postgresql://localhost/app"
    assert settings == PostgresSettings()
    assert settings.schema == "taskrunner" and settings.migrate


@pytest.mark.parametrize(
    "schema", ["", "Jobs", "jobs;drop", "1jobs", 'a"b', "x" * 51, "my-jobs", "pg_jobs"]
)
def test_schema_must_be_a_plain_identifier(schema: str) -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresBackend(f"postgresql://localhost/app?schema={schema}")


def test_bad_parameters_are_reported_without_the_password() -> None:
    for query in ("migrate=maybe", "pool_max=lots", "pool_min=5&pool_max=2"):
        with pytest.raises(ConfigurationError) as caught:
            PostgresBackend(f"postgresql://app:hunter2@localhost/app?{query}")
        assert "hunter2" not in str(caught.value)


def test_registered_for_both_schemes() -> None:
    for scheme in ("postgresql", "postgres"):
        assert isinstance(load_backend(f"{scheme}://localhost/app"), PostgresBackend)
    runner = TaskRunner("postgresql://app:hunter2@localhost/app")
    assert "hunter2" not in repr(runner) and "hunter2" not in repr(runner.backend)


async def test_connection_failure_names_the_server_without_the_password() -> None:
    backend = PostgresBackend(
        "postgresql://app:hunter2@127.0.0.1:1/app",
        settings=PostgresSettings(connect_timeout=2),
    )
    with pytest.raises(BackendError) as caught:
        await backend.connect()
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "***" in message and "hunter2" not in message


async def test_transactional_enqueue_needs_an_asyncpg_connection() -> None:
    runner = TaskRunner("postgresql://localhost/app")

    @runner.task
    async def noop() -> None: ...

    with pytest.raises(ConfigurationError, match="asyncpg connection"):
        await runner.backend.enqueue([noop.prepare().new], connection=object())


def test_a_password_given_as_a_query_parameter_is_hidden_too() -> None:
    backend = PostgresBackend(
        "postgresql://app@localhost/app?password=hunter2&sslmode=require&sslpassword=keypass"
    )
    shown = repr(backend)
    assert "hunter2" not in shown and "keypass" not in shown
    assert "sslmode=require" in shown
