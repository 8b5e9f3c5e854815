"""The dashboard's Starlette app: its settings and its routes, each behind the checks of
`gate` that its kind of request needs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from taskrunner.dashboard import actions, api, batches, bulk, pages, queues, schedules
from taskrunner.dashboard.context import Form, View, base_path
from taskrunner.dashboard.enqueue import EnqueueDoor
from taskrunner.dashboard.gate import COOKIE, Gate, Kind
from taskrunner.dashboard.guard import Guard, session_key
from taskrunner.dashboard.html import static_file
from taskrunner.errors import ConfigurationError
from taskrunner.runner import TaskRunner


def dashboard(
    runner: TaskRunner,
    *,
    token: str | None = None,
    password: str | None = None,
    secret_key: str | bytes | None = None,
    title: str = "taskrunner",
    timezone: str = "UTC",
    close_runner: bool = False,
    api_token: str | None = None,
) -> Starlette:
    """A Starlette app showing `runner`'s queues and jobs, to mount in an ASGI app
    (`app.mount("/jobs", dashboard(runner, token=...))`) or serve on its own.

    With `token` or `password`, every request needs it: the login form (a signed, HttpOnly,
    SameSite=Strict session cookie) or an `Authorization: Bearer` header. Without either,
    the dashboard answers only requests to and from this machine (a loopback Host and
    client). Wrong credentials are throttled per client address, the right one is always
    let in; argument values named like secrets show as `***`. Retry and cancel are POSTs
    checked for a CSRF token and their Origin.
    `secret_key` (16 characters or more; default: the `TASKRUNNER_DASHBOARD_SECRET`
    environment variable, else random, so sessions end on restart) signs the session
    cookies and CSRF tokens: give every process serving the dashboard the same one, and a
    login on one is good on all. Times show in `timezone` (an IANA name), labelled on every
    page. With `close_runner`, the app
    closes the runner's backend connection when it shuts down (when it is served alone).

    `POST /api/jobs` enqueues a job document (`taskrunner.job_format`) of a task the
    runner knows, with `Authorization: Bearer <token>`: `api_token`, else `token`; a
    dashboard with neither (or with a password only) refuses it.
    """
    if token is not None and password is not None:
        raise ConfigurationError("give the dashboard a token or a password, not both")
    credential = token if token is not None else password
    if credential is not None and len(credential) < 8:
        raise ConfigurationError("the dashboard's token or password needs 8 characters or more")
    guard = Guard(credential, session_key(secret_key))
    if api_token is not None and len(api_token) < 16:
        raise ConfigurationError("api_token needs 16 characters or more")
    door_token = api_token if api_token is not None else token
    gate = Gate(runner, guard, title, time_zone(timezone))
    door = EnqueueDoor(runner, Guard(door_token))
    return Starlette(
        routes=route_table(gate, door), lifespan=closing(runner) if close_runner else None
    )


def route_table(gate: Gate, door: EnqueueDoor) -> list[Route]:
    """Every route of the dashboard, each behind its checks."""
    return [
        Route("/", gate.page(pages.overview, Kind.PAGE)),
        Route("/jobs", gate.page(pages.jobs, Kind.PAGE)),
        Route("/jobs/bulk", gate.action(bulk.bulk), methods=["POST"]),
        Route("/jobs/{job_id}", gate.page(pages.job, Kind.PAGE)),
        Route("/jobs/{job_id}/retry", gate.action(actions.retry), methods=["POST"]),
        Route("/jobs/{job_id}/cancel", gate.action(actions.cancel), methods=["POST"]),
        Route("/jobs/{job_id}/delete", gate.action(actions.delete), methods=["POST"]),
        Route("/queues/{queue}", gate.page(queues.queue_page, Kind.PAGE)),
        Route("/api/queues/{queue}", gate.page(api.queue, Kind.API)),
        Route("/queues/{queue}/retry-failed", gate.action(bulk.retry_failed), methods=["POST"]),
        Route("/queues/{queue}/pause", gate.action(bulk.pause), methods=["POST"]),
        Route("/queues/{queue}/resume", gate.action(bulk.resume), methods=["POST"]),
        Route("/batches", gate.page(batches.batches, Kind.PAGE)),
        Route("/batches/{batch_id}", gate.page(batches.batch, Kind.PAGE)),
        Route("/api/batches/{batch_id}", gate.page(batches.batch_json, Kind.API)),
        Route("/search", gate.page(pages.search, Kind.PAGE)),
        Route("/schedules", gate.page(schedules.schedules, Kind.PAGE)),
        Route("/schedules/{task}/run", gate.action(schedules.run_now), methods=["POST"]),
        Route("/api/stats", gate.page(api.stats, Kind.API)),
        Route("/api/jobs", gate.page(api.jobs, Kind.API)),
        Route("/api/jobs", door.endpoint, methods=["POST"]),
        Route("/api/jobs/{job_id}", gate.page(api.job, Kind.API)),
        Route("/static/dashboard.js", gate.page(script, Kind.API)),
        Route("/static/dashboard.css", gate.stylesheet),
        Route("/login", gate.login, methods=["GET", "POST"]),
        Route("/logout", gate.action(logout), methods=["POST"]),
    ]


def time_zone(name: str) -> tzinfo:
    """The zone the pages show times in, from its IANA name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown time zone {name!r}: give an IANA name such as 'UTC' or 'Europe/Paris'"
        ) from None


def closing(runner: TaskRunner) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await runner.close()

    return lifespan


async def script(view: View) -> Response:
    return Response(static_file("dashboard.js"), media_type="text/javascript")


async def logout(view: View, form: Form) -> Response:
    response = view.redirect("/login")
    response.delete_cookie(COOKIE, path=base_path(view.request) or "/")
    return response
