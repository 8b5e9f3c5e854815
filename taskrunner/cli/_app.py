"""The `taskrunner` app object and what its commands share: finding the runner, running
one piece of work against the backend, exit codes, reading durations, printing JSON,
common options.

This module imports no command module: `taskrunner.cli` registers the commands on `app`.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, NamedTuple, TypeVar

import orjson
import typer

from taskrunner import __version__
from taskrunner.backend import redact
from taskrunner.errors import BackendError, ConfigurationError, TaskrunnerError
from taskrunner.retry import MAX_SECONDS
from taskrunner.runner import TaskRunner

T = TypeVar("T")

app = typer.Typer(
    name="taskrunner",
    help="Run and manage taskrunner workers. Every command takes the app as --app "
    "module.path:runner (or TASKRUNNER_APP), or only a backend URL as --url (or TASKRUNNER_URL).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
APP_ENV = "TASKRUNNER_APP"


class ExitCodes(NamedTuple):
    """The exit status of a command whose backend work raised: a taskrunner error, a
    setting the backend refused (ConfigurationError), a backend it could not reach."""

    failed: int = EXIT_FAILED
    refused: int = EXIT_FAILED
    unreachable: int = EXIT_FAILED


COMMAND_EXITS = ExitCodes()
# `stats --check`: a monitor tells a crossed threshold (1) from its own mistake (2) and from
# a backend that is down (3)
MONITOR_EXITS = ExitCodes(refused=EXIT_USAGE, unreachable=EXIT_UNREACHABLE)

AppArg = Annotated[
    str | None,
    typer.Argument(metavar="[APP]", help="module.path:runner, as --app gives it (or give --url)."),
]
AppOpt = Annotated[
    str | None,
    typer.Option(
        "--app",
        "-a",
        envvar=APP_ENV,
        show_envvar=True,
        help="module.path:runner (the app's runner: its backend and its tasks).",
    ),
]
UrlOpt = Annotated[
    str | None, typer.Option(help="Backend URL (default: the app's, else TASKRUNNER_URL).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def show_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"taskrunner {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=show_version,
            is_eager=True,
            help="Print taskrunner's version and exit.",
        ),
    ] = False,
) -> None:
    """taskrunner: background jobs for asyncio apps."""


def chosen_app(positional: str | None, option: str | None) -> str | None:
    """The app a command was given: APP (where the command takes it positionally) or
    --app; a TASKRUNNER_APP in the environment yields to an APP on the command line."""
    if positional is None or option is None:
        return positional if option is None else option
    if positional == option or option == os.environ.get(APP_ENV):
        return positional
    raise fail(f"give the app once: {positional!r} and --app {option!r} differ")


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print `error: message` to stderr; the exit to raise (usage error by default)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_runner(path: str, url: str | None) -> TaskRunner:
    """Import `module.path:attribute` and return the TaskRunner it names."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise fail(f"expected module.path:runner (e.g. app.tasks:runner), got {path!r}")
    if url:
        os.environ["TASKRUNNER_URL"] = url
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise fail(f"cannot import {module_name!r}: {exc}") from None
    except TaskrunnerError as exc:
        raise fail(f"importing {module_name!r} failed: {exc}") from None
    runner = getattr(module, attribute, None)
    if runner is None:
        raise fail(f"module {module_name!r} has no attribute {attribute!r}")
    if not isinstance(runner, TaskRunner):
        raise fail(f"{path} is a {type(runner).__name__}, not a TaskRunner")
    if url and runner.url != url:
        try:
            runner.use_url(url)
        except TaskrunnerError as exc:
            raise fail(str(exc)) from None
    return runner


def open_runner(app_path: str | None, url: str | None) -> TaskRunner:
    """The app's runner, or (without an app) a runner for `url` or TASKRUNNER_URL."""
    if app_path is not None:
        return load_runner(app_path, url)
    target = url or os.environ.get("TASKRUNNER_URL") or ""
    if not target:
        raise fail(
            "no backend URL: give the app (--app module.path:runner), --url, "
            f"or set {APP_ENV} or TASKRUNNER_URL"
        )
    try:
        return TaskRunner(target)
    except TaskrunnerError as exc:
        raise fail(str(exc)) from None


def with_runner(
    app_path: str | None,
    url: str | None,
    work: Callable[[TaskRunner], Awaitable[T]],
    codes: ExitCodes = COMMAND_EXITS,
) -> T:
    """Open the runner, run `work` with it connected, close it; errors become exits."""
    runner = open_runner(app_path, url)

    async def run() -> T:
        try:
            await runner.connect()
            return await work(runner)
        finally:
            await runner.close()

    return run_on_backend(run(), runner.url, codes)


def run_on_backend(work: Coroutine[Any, Any, T], url: str, codes: ExitCodes = COMMAND_EXITS) -> T:
    """Run `work` to its end; a taskrunner error or an unreachable backend becomes an exit
    with the status `codes` give it."""
    try:
        return asyncio.run(work)
    except ConfigurationError as exc:
        raise fail(str(exc), codes.refused) from None
    except BackendError as exc:
        raise fail(str(exc), codes.unreachable) from None
    except TaskrunnerError as exc:
        raise fail(str(exc), codes.failed) from None
    except OSError as exc:  # connection refused and the like
        raise fail(f"cannot reach the backend at {redact(url)}: {exc}", codes.unreachable) from None


def duration(text: str, option: str, *, positive: bool = False) -> float:
    """Seconds from '90', '90s', '15m', '12h' or '7d', at most ten years (more than zero
    with `positive`); a usage error naming `option` otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise fail(
            f"{option}: cannot read {text!r} as a duration: use e.g. 90, 90s, 15m, 12h or 7d"
        )
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value > MAX_SECONDS:
        raise fail(f"{option} {text} is too long: at most ten years ({MAX_SECONDS // 86400}d)")
    if positive and value == 0:
        raise fail(f"{option} must be longer than 0, e.g. 5m")
    return value


def print_json(data: Any) -> None:
    """Print `data` as indented JSON."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
