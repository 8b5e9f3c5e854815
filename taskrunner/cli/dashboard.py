"""`taskrunner dashboard`: serve the dashboard with uvicorn, on 127.0.0.1 unless protected."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from taskrunner.backend import redact, scheme_of
from taskrunner.cli._app import AppOpt, UrlOpt, chosen_app, fail, open_runner
from taskrunner.dashboard import MISSING_EXTRA
from taskrunner.dashboard.security import check_bind, is_loopback
from taskrunner.errors import ConfigurationError

LOG_LEVELS = ("debug", "info", "warning", "error")

HostOpt = Annotated[str, typer.Option(help="Address to listen on; other than loopback needs auth.")]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        envvar="TASKRUNNER_DASHBOARD_TOKEN",
        help="Require this token (login form or Authorization: Bearer).",
    ),
]
PasswordOpt = Annotated[
    str | None,
    typer.Option(envvar="TASKRUNNER_DASHBOARD_PASSWORD", help="Require this password."),
]

ApiTokenOpt = Annotated[
    str | None,
    typer.Option(
        envvar="TASKRUNNER_API_TOKEN",
        help="Open POST /api/jobs (enqueue) to this token (default: --token's).",
    ),
]
SecretOpt = Annotated[
    str | None,
    typer.Option(
        envvar="TASKRUNNER_DASHBOARD_SECRET",
        help="Sign sessions with this key (16+ characters): processes sharing it share "
        "logins, e.g. behind a load balancer (default: random, lost on restart).",
    ),
]


def serve_dashboard(
    app_path: Annotated[
        str | None,
        typer.Argument(
            metavar="[APP]", help="module.path:runner (shows its schedules), or give --url."
        ),
    ] = None,
    app_option: AppOpt = None,
    url: UrlOpt = None,
    host: HostOpt = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8001,
    token: TokenOpt = None,
    password: PasswordOpt = None,
    api_token: ApiTokenOpt = None,
    secret: SecretOpt = None,
    timezone: Annotated[str, typer.Option(help="Show times in this IANA time zone.")] = "UTC",
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the web dashboard: queues, jobs, failures with tracebacks, schedules."""
    try:
        import uvicorn

        from taskrunner.dashboard.app import dashboard
    except ImportError:
        raise fail(MISSING_EXTRA) from None
    if log_level.lower() not in LOG_LEVELS:
        raise fail(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
    if token is not None and password is not None:
        raise fail("give --token or --password, not both")
    try:
        check_bind(host, protected=token is not None or password is not None)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    runner = open_runner(chosen_app(app_path, app_option), url)
    try:
        web_app = dashboard(
            runner,
            token=token,
            password=password,
            api_token=api_token,
            secret_key=secret,
            timezone=timezone,
            close_runner=True,
        )
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    if scheme_of(runner.url) == "memory":
        typer.echo(
            "note: memory:// lives in one process: this dashboard sees only its own jobs",
            err=True,
        )
    if not is_loopback(host):
        typer.echo(
            "note: serve it behind HTTPS (a TLS proxy): plain HTTP shows the password or token "
            "to the network",
            err=True,
        )
    typer.echo(f"dashboard for {redact(runner.url)} on http://{host}:{port}/", err=True)
    config = uvicorn.Config(web_app, host=host, port=port, log_level=log_level.lower())
    serve(config)


def serve(config: Any) -> None:
    """Run uvicorn until SIGINT or SIGTERM (the app closes the runner as it shuts down)."""
    import uvicorn

    uvicorn.Server(config).run()
