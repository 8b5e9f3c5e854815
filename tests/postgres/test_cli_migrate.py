"""`taskrunner migrate`: applies pending migrations in a release step."""

from __future__ import annotations

from typer.testing import CliRunner

from taskrunner.cli import app


def test_migrate_applies_then_finds_nothing_to_do(pg_url: str) -> None:
    cli = CliRunner()
    first = cli.invoke(app, ["migrate", "--url", pg_url])
    assert first.exit_code == 0, first.output
    assert "applied migration 0001_jobs" in first.output
    again = cli.invoke(app, ["migrate", "--url", pg_url])
    assert again.exit_code == 0 and "already up to date" in again.output


def test_migrate_on_a_backend_without_migrations() -> None:
    result = CliRunner().invoke(app, ["migrate", "--url", "memory://"])
    assert result.exit_code == 0 and "needs no migrations" in result.output


def test_migrate_failure_is_one_line_without_the_password() -> None:
    result = CliRunner().invoke(
        app, ["migrate", "--url", "postgresql://app:hunter2@127.0.0.1:1/app"]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "hunter2" not in result.output and "127.0.0.1:1" in result.output
