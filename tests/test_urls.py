"""Backend URLs whose password holds an unencoded / ? # @ [ or ]: never echoed, refused with
the fix, on every backend's URL form and through every door (runner, backend, CLI)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from taskrunner import ConfigurationError, TaskRunner
from taskrunner.backend import Backend, redact
from taskrunner.cli import app
from taskrunner_postgres import PostgresBackend
from taskrunner_redis import RedisBackend

# (URL, pieces of its password that must never be shown)
MANGLED = [
    ("redis://:pa/ss#w?rd@host:6379/0", ["pa/ss", "ss#w", "w?rd"]),
    ("redis://:pa?ss@host:6379/0", ["pa?ss"]),
    ("rediss://user:p#w@host", ["p#w"]),
    ("redis://u:p[w@host/0", ["p[w"]),
    ("postgresql://user:p@ss/w#rd@host/db", ["p@ss", "ss/w", "w#rd"]),
    ("postgres://user:p@ss@host/db", ["p@ss"]),
    ("memory://u:pa/ss@x", ["pa/ss"]),
]
BACKENDS: dict[str, Callable[[str], Backend]] = {
    "redis": RedisBackend,
    "rediss": RedisBackend,
    "postgresql": PostgresBackend,
    "postgres": PostgresBackend,
}


def assert_hidden(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} shown in {text!r}"


@pytest.mark.parametrize(("url", "secrets"), MANGLED)
def test_redact_hides_a_password_with_unencoded_characters(url: str, secrets: list[str]) -> None:
    shown = redact(url)
    assert_hidden(shown, secrets)
    assert shown.endswith(url.rpartition("@")[2])  # the host stays readable


@pytest.mark.parametrize(("url", "secrets"), MANGLED)
def test_such_a_url_is_refused_with_the_fix(url: str, secrets: list[str]) -> None:
    constructors: list[Callable[[str], object]] = [TaskRunner, TaskRunner().use_url]
    scheme = url.partition("://")[0]
    if scheme in BACKENDS:
        constructors.append(BACKENDS[scheme])
    for construct in constructors:
        with pytest.raises(ConfigurationError, match="percent-encode") as raised:
            construct(url)
        assert_hidden(str(raised.value), secrets)


@pytest.mark.parametrize(("url", "secrets"), MANGLED)
def test_the_cli_says_it_in_one_line(url: str, secrets: list[str]) -> None:
    result = CliRunner().invoke(app, ["jobs", "--url", url])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.output.splitlines()
    assert line.startswith("error: ") and "percent-encode" in line
    assert_hidden(result.output, secrets)


def test_a_redis_port_that_is_no_number_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="port") as raised:
        TaskRunner("redis://u:hunter2@host:63x9/0")
    assert "hunter2" not in str(raised.value)


def test_percent_encoded_passwords_are_taken_and_hidden() -> None:
    for url in ("redis://:pa%2Fss%23w%3Frd@host:6379/0", "postgresql://u:p%40ss%2Fw@host/db"):
        runner = TaskRunner(url)
        for text in (repr(runner), repr(runner.backend)):
            assert "pa%2F" not in text and "p%40ss" not in text and "***" in text
