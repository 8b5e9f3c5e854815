"""`taskrunner migrate`: apply the backend's pending schema migrations."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from taskrunner.backend import redact, scheme_of
from taskrunner.cli._app import UrlOpt, fail, open_runner
from taskrunner.errors import TaskrunnerError


def migrate(
    app_path: Annotated[
        str | None,
        typer.Argument(metavar="[APP]", help="module.path:runner whose backend to migrate."),
    ] = None,
    url: UrlOpt = None,
) -> None:
    """Apply the backend's pending schema migrations (run it in a release step)."""
    runner = open_runner(app_path, url)
    backend, target = runner.backend, runner.url
    apply = getattr(backend, "migrate", None)
    if apply is None:
        typer.echo(f"the {scheme_of(target)}:// backend needs no migrations; nothing to do")
        return
    try:
        applied = asyncio.run(apply())
    except TaskrunnerError as exc:
        raise fail(str(exc), 1) from None
    except OSError as exc:
        raise fail(f"cannot reach the backend at {redact(target)}: {exc}", 1) from None
    for name in applied:
        typer.echo(f"applied migration {name}")
    if not applied:
        typer.echo(f"{redact(target)}: schema already up to date")
