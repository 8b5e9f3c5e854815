"""What every view gets: the runner, the request's session, and how to build links and pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from taskrunner import _validation as validation
from taskrunner._present import shown_job
from taskrunner.backend import redact
from taskrunner.dashboard.guard import Guard, Session
from taskrunner.dashboard.html import render
from taskrunner.errors import TaskrunnerError
from taskrunner.job import JobInfo
from taskrunner.runner import TaskRunner

NOTICES = {
    "retried": "The job is queued again.",
    "cancelled": "The job is cancelled.",
    "cancel-requested": "The job is running: its worker was asked to stop it.",
    "not-retryable": "Only failed, cancelled and scheduled jobs can be retried.",
    "finished": "The job had already finished: nothing to cancel.",
    "gone": "That job no longer exists.",
    "deleted": "The job is deleted.",
    "not-deletable": "Only finished jobs can be deleted: cancel it first.",
    "bulk-retry": "{count} of the {of} selected jobs queued again (only failed, cancelled and "
    "scheduled jobs can be retried).",
    "bulk-cancel": "{count} of the {of} selected jobs cancelled or asked to stop (finished jobs "
    "are left as they were).",
    "bulk-delete": "{count} of the {of} selected jobs deleted (only finished jobs can be "
    "deleted: cancel the others first).",
    "none-selected": "No job was selected.",
    "retried-failed": "{count} failed jobs of the queue queued again.",
    "paused": "The queue is paused: no worker takes its jobs until it is resumed.",
    "resumed": "The queue is resumed.",
    "enqueued": "The task is enqueued now, off its schedule: this is its job.",
}
NOTICE_FIELDS = ("notice", "count", "of")  # query fields a notice is shown from
Form = ImmutableMultiDict[str, str]
NAV = (("/", "Overview"), ("/jobs", "Jobs"), ("/jobs?state=failed", "Failed"),
       ("/batches", "Batches"), ("/schedules", "Schedules"))  # fmt: skip


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
            notice=notice_text(self.request.query_params),
            zone=self.zone,
            zone_name=zone_name(self.zone),
            url=self.url,
            **values,
        )
        return HTMLResponse(page, status_code=status)

    def message(self, title: str, text: str, status: int) -> HTMLResponse:
        return self.page("message.html", title, status, text=text)


def queue_name(view: View) -> str | None:
    """The queue named in the request's path, if it is a valid queue name."""
    try:
        return validation.queue_name(str(view.request.path_params["queue"]))
    except TaskrunnerError:
        return None


def notice_text(query: Mapping[str, str]) -> str | None:
    """The notice a page shows after an action, with its counts (None: none)."""
    text = NOTICES.get(query.get("notice", ""))
    if text is None:
        return None
    counts = {k: query.get(k, "") for k in ("count", "of")}
    return text.format(**{k: v if v.isdigit() else "?" for k, v in counts.items()})


def zone_name(zone: tzinfo) -> str:
    """The name a page gives its time zone: `UTC`, `Europe/Paris`."""
    return str(getattr(zone, "key", None) or zone.tzname(None) or zone)


__all__ = [
    "NOTICE_FIELDS",
    "Form",
    "View",
    "base_path",
    "queue_name",
    "route_path",
    "safe_next",
    "zone_name",
]
