"""The checks every request passes before its view: who may ask (bind rule, bearer token,
session cookie, the throttle on wrong credentials), same origin and CSRF for actions, the
login form, and the security headers and session cookie on every answer."""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from urllib.parse import parse_qsl, urlencode

import anyio
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from taskrunner.dashboard.context import Form, View, base_path, route_path, safe_next
from taskrunner.dashboard.guard import Guard, Session
from taskrunner.dashboard.html import render, static_file
from taskrunner.dashboard.security import (
    SESSION_MAX_AGE,
    THROTTLED_FAILURE_DELAY,
    Verdict,
    host_name,
    is_loopback,
    same_origin,
)
from taskrunner.runner import TaskRunner

COOKIE = "taskrunner_dashboard"
MAX_FORM = 16384  # bytes of a form: room for a bulk action's 200 job ids
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
