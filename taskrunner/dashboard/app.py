"""The dashboard's Starlette app: routes, and the checks every request passes first."""

from __future__ import annotations

import enum
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import tzinfo
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
from starlette.applications import Starlette
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from taskrunner.dashboard import actions, api, batches, bulk, pages, queues, schedules
from taskrunner.dashboard.context import Form, View, base_path, route_path, safe_next
from taskrunner.dashboard.enqueue import EnqueueDoor
from taskrunner.dashboard.html import render, static_file
from taskrunner.dashboard.security import (
    SESSION_MAX_AGE,
    THROTTLED_FAILURE_DELAY,
    Guard,
    Session,
    Verdict,
    host_name,
    is_loopback,
    same_origin,
    session_key,
)
from taskrunner.errors import ConfigurationError
from taskrunner.runner import TaskRunner

COOKIE = "taskrunner_dashboard"
MAX_FORM = 8192
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

TOO_MANY_FAILURES = (
    "Wrong password or token, and too many failed attempts from your address: wait a few "
    "minutes. The right one is still accepted."
)

PageView = Callable[[View], Awaitable[Response]]
ActionView = Callable[[View, Form], Awaitable[Response]]


class Kind(enum.Enum):
    PAGE = "page"  # HTML: without auth, off to the login form
    API = "api"  # JSON: without auth, 401
    ACTION = "action"  # POST that changes state: auth, same origin and a CSRF token


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
    routes = [
        Route("/", gate.page(pages.overview, Kind.PAGE)),
        Route("/jobs", gate.page(pages.jobs, Kind.PAGE)),
        Route("/jobs/bulk", gate.action(bulk.bulk), methods=["POST"]),
        Route("/jobs/{job_id}", gate.page(pages.job, Kind.PAGE)),
        Route("/jobs/{job_id}/retry", gate.action(actions.retry), methods=["POST"]),
        Route("/jobs/{job_id}/cancel", gate.action(actions.cancel), methods=["POST"]),
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
        Route("/api/jobs", EnqueueDoor(runner, Guard(door_token)).endpoint, methods=["POST"]),
        Route("/api/jobs/{job_id}", gate.page(api.job, Kind.API)),
        Route("/static/dashboard.js", gate.page(script, Kind.API)),
        Route("/static/dashboard.css", gate.stylesheet),
        Route("/login", gate.login, methods=["GET", "POST"]),
        Route("/logout", gate.action(logout), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=closing(runner) if close_runner else None)


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


class Gate:
    """Wraps each view with the checks its kind of request needs."""

    def __init__(self, runner: TaskRunner, guard: Guard, title: str, zone: tzinfo) -> None:
        self.runner = runner
        self.guard = guard
        self.title = title
        self.zone = zone

    def page(self, handler: PageView, kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            checked = await self.admit(request, kind)
            if isinstance(checked, Response):
                return finish(request, checked)
            await self.runner.connect()
            return finish(request, await handler(self.view(request, checked)))

        return endpoint

    def action(self, handler: ActionView) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            checked = await self.admit(request, Kind.ACTION)
            if isinstance(checked, Response):
                return finish(request, checked)
            form = await read_form(request)
            if form is None:
                return finish(request, refuse(Kind.ACTION, 413, "The form is too large."))
            if not checked.bearer and not self.guard.csrf_matches(checked, form.get("csrf")):
                text = "The form's CSRF token is missing or wrong: reload the page and try again."
                return finish(request, refuse(Kind.ACTION, 403, text))
            await self.runner.connect()
            return finish(request, await handler(self.view(request, checked), form))

        return endpoint

    def view(self, request: Request, session: Session) -> View:
        return View(request, self.runner, self.guard, session, self.title, self.zone)

    async def admit(self, request: Request, kind: Kind) -> Session | Response:
        """The request's session, or the response refusing it."""
        if not self.guard.protected and not local_request(request):
            return refuse(
                kind,
                403,
                "This dashboard has no password or token, so it only answers requests made "
                "on this machine (to localhost or 127.0.0.1).",
            )
        client = client_address(request)
        bearer = self.guard.bearer(client, request.headers.get("authorization"))
        if bearer is Verdict.WRONG:
            return refuse(kind, 401, "Wrong token.")
        if bearer is Verdict.THROTTLED:
            return await self.throttled(client, refuse(kind, 429, TOO_MANY_FAILURES))
        if kind is Kind.ACTION and not origin_ok(request, bearer is Verdict.ADMITTED):
            return refuse(kind, 403, "Cross-origin request refused.")
        if bearer is Verdict.ADMITTED:
            return Session("bearer", bearer=True)
        session = self.guard.session_from_cookie(request.cookies.get(COOKIE))
        if session is not None:
            return session
        if self.guard.protected:
            if kind is Kind.PAGE:
                return login_redirect(request)
            return refuse(kind, 401, "Log in first, or send Authorization: Bearer <token>.")
        if kind is Kind.ACTION:  # a fresh session has no CSRF token to show yet
            return refuse(kind, 403, "No session: reload the page and try again.")
        session, cookie = self.guard.new_cookie()
        request.state.new_cookie = cookie
        return session

    async def stylesheet(self, request: Request) -> Response:
        # the same file for everyone, and the login form needs it
        response = Response(static_file("dashboard.css"), media_type="text/css")
        return finish(request, response)

    async def login(self, request: Request) -> Response:
        if not self.guard.protected:
            return finish(request, redirect_to(request, "/"))
        target = safe_next(request.query_params.get("next"), "/")
        if request.method == "GET":
            if self.guard.session_from_cookie(request.cookies.get(COOKIE)) is not None:
                return finish(request, redirect_to(request, target))
            return finish(request, login_form(request, target, ""))
        if not origin_ok(request, False):
            return finish(request, refuse(Kind.ACTION, 403, "Cross-origin request refused."))
        client = client_address(request)
        form = await read_form(request) or ImmutableMultiDict()
        target = safe_next(form.get("next"), "/")
        verdict = self.guard.judge(client, form.get("password", ""))
        if verdict is Verdict.THROTTLED:
            form_page = login_form(request, target, TOO_MANY_FAILURES, 429)
            return finish(request, await self.throttled(client, form_page))
        if verdict is Verdict.WRONG:
            return finish(request, login_form(request, target, "Wrong password or token.", 401))
        _, cookie = self.guard.new_cookie()
        request.state.new_cookie = cookie
        return finish(request, redirect_to(request, target))

    async def throttled(self, client: str, response: Response) -> Response:
        """`response` to a wrong credential from a throttled address, given late."""
        await anyio.sleep(THROTTLED_FAILURE_DELAY)
        wait = self.guard.failures.throttled_for(client)
        response.headers["retry-after"] = str(max(1, math.ceil(wait)))
        return response


def client_address(request: Request) -> str:
    """The address the request came from (behind a proxy: the proxy's)."""
    return request.client.host if request.client else "?"


def local_request(request: Request) -> bool:
    client = request.client.host if request.client else None
    host = host_name(request.headers.get("host", ""))
    return is_loopback(host) and (client is None or is_loopback(client))


def origin_ok(request: Request, bearer: bool) -> bool:
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    if bearer and origin is None and referer is None:
        return True  # a script, not a browser: browsers send Origin with every POST
    return same_origin(request.headers.get("host"), origin, referer)


async def read_form(request: Request) -> Form | None:
    """An urlencoded form body (None if it is too large); `get` answers a field's last value,
    `getlist` all of them."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    return ImmutableMultiDict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def refuse(kind: Kind, status: int, text: str) -> Response:
    if kind is Kind.PAGE:
        return HTMLResponse(render("refused.html", text=text), status_code=status)
    if kind is Kind.API:
        return JSONResponse({"error": text}, status_code=status)
    return PlainTextResponse(text, status_code=status)


def redirect_to(request: Request, path: str) -> Response:
    return Response(status_code=303, headers={"location": base_path(request) + path})


def login_redirect(request: Request) -> Response:
    view_path = route_path(request)
    query = "" if view_path == "/" else "?" + urlencode({"next": view_path})
    return redirect_to(request, "/login" + query)


def login_form(request: Request, target: str, error: str, status: int = 200) -> Response:
    page = render("login.html", base=base_path(request), next=target, error=error)
    return HTMLResponse(page, status_code=status)


def finish(request: Request, response: Response) -> Response:
    """Add the security headers, and the session cookie if this request made one."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    cookie = getattr(request.state, "new_cookie", None)
    if cookie is not None:
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=SESSION_MAX_AGE,
            path=base_path(request) or "/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
    return response
