"""`taskrunner migrate`: apply the backend's pending schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from taskrunner.backend import Migrations, redact, scheme_of
from taskrunner.cli._app import AppOpt, UrlOpt, chosen_app, open_runner, run_on_backend


def migrate(
    app_path: Annotated[
        str | None,
        typer.Argument(metavar="[APP]", help="module.path:runner whose backend to migrate."),
    ] = None,
    app_option: AppOpt = None,
    url: UrlOpt = None,
) -> None:
    """Apply the backend's pending schema migrations (run it in a release step)."""
    runner = open_runner(chosen_app(app_path, app_option), url)
    backend, target = runner.backend, runner.url
    if not isinstance(backend, Migrations):
        typer.echo(f"the {scheme_of(target)}:// backend needs no migrations; nothing to do")
        return
    applied = run_on_backend(backend.migrate(), target)
    for name in applied:
        typer.echo(f"applied migration {name}")
    if not applied:
        typer.echo(f"{redact(target)}: schema already up to date")
