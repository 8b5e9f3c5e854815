"""What every view gets: the runner, the request's session, and how to build links and pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from taskrunner._present import shown_job
from taskrunner.backend import redact
from taskrunner.dashboard.html import render
from taskrunner.dashboard.security import Guard, Session
from taskrunner.job import JobInfo
from taskrunner.runner import TaskRunner

NOTICES = {
    "retried": "The job is queued again.",
    "cancelled": "The job is cancelled.",
    "cancel-requested": "The job is running: its worker was asked to stop it.",
    "not-retryable": "Only failed, cancelled and scheduled jobs can be retried.",
    "finished": "The job had already finished: nothing to cancel.",
    "gone": "That job no longer exists.",
}
NAV = (("/", "Overview"), ("/jobs", "Jobs"), ("/jobs?state=failed", "Failed"),
       ("/schedules", "Schedules"))  # fmt: skip


def base_path(request: Request) -> str:
    """Where the dashboard is mounted ('' at the root), for links and the cookie path."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def route_path(request: Request) -> str:
    """The request's path inside the dashboard, with its query string."""
    path = request.url.path
    base = base_path(request)
    if base and path.startswith(base):
        path = path[len(base) :] or "/"
    return path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(target: str | None, default: str) -> str:
    """A path inside the dashboard to go back to; anything else (another site) is dropped."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    return target


@dataclass
class View:
    """One request as a view sees it."""

    request: Request
    runner: TaskRunner
    guard: Guard
    session: Session
    title: str
    zone: tzinfo = UTC

    @property
    def base(self) -> str:
        return base_path(self.request)

    def url(self, path: str, **query: str | None) -> str:
        given = {k: v for k, v in query.items() if v}
        if not given:
            return self.base + path
        return self.base + path + ("&" if "?" in path else "?") + urlencode(given)

    def shown(self, info: JobInfo) -> JobInfo:
        """`info` as the dashboard shows it: arguments named like secrets masked."""
        return shown_job(info, self.runner.tasks)

    def redirect(self, path: str, **query: str | None) -> RedirectResponse:
        return RedirectResponse(self.url(path, **query), status_code=303)

    def page(self, template: str, title: str, status: int = 200, **values: Any) -> HTMLResponse:
        """`templates/<template>` inside the layout, with what every page shows."""
        here = route_path(self.request)
        page = render(
            template,
            title=title,
            site=self.title,
            base=self.base,
            nav=[(self.base + path, label, path == here) for path, label in NAV],
            logout=self.guard.protected and not self.session.bearer,
            csrf=self.guard.csrf_token(self.session),
            backend=redact(self.runner.url),
            notice=NOTICES.get(self.request.query_params.get("notice", "")),
            zone=self.zone,
            zone_name=zone_name(self.zone),
            url=self.url,
            **values,
        )
        return HTMLResponse(page, status_code=status)

    def message(self, title: str, text: str, status: int) -> HTMLResponse:
        return self.page("message.html", title, status, text=text)


def zone_name(zone: tzinfo) -> str:
    """The name a page gives its time zone: `UTC`, `Europe/Paris`."""
    return str(getattr(zone, "key", None) or zone.tzname(None) or zone)


__all__ = ["View", "base_path", "route_path", "safe_next", "zone_name"]
