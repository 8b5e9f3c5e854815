"""A link checker, as a Flask app: a form takes a web page's URL, a worker process fetches the
page and checks every link on it, and the check's page shows how far it got, then the broken
links.

Flask is a sync framework: its handlers enqueue with `check_links.enqueue_sync(...)` and read
jobs with `runner.get_job_sync(...)`, from whichever thread serves the request. The jobs run
in worker processes, never in the web process, so both need the same backend: Redis on
127.0.0.1:6379 by default, under this example's own key prefix (set TASKRUNNER_URL to use
another Redis, or Postgres: postgresql://...).

Run it from a clone of the repository, one process per terminal:

    uv run taskrunner run examples.flask_app:runner
    uv run flask --app examples.flask_app run

then open http://127.0.0.1:5000 and submit the URL of a web page. The form's handler enqueues
a check and redirects at once to the check's page, which reloads itself every second (it
shows how many links are checked so far) until the job has finished, then lists the links
with their status. GET /api/checks/{id} answers the same as JSON.

In production, run the web app in any WSGI server, threaded or not (`gunicorn --threads 8
examples.flask_app:app`), and as many workers as the checks need.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
from flask import Flask, abort, redirect, render_template_string, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from taskrunner import JobInfo, JobNotFound, TaskRunner, current_job

# --8<-- [start:runner]
# The web process and the workers share one backend (a sync app cannot use memory://)
DEFAULT_URL = "redis://127.0.0.1:6379/0?prefix=linkcheck"
runner = TaskRunner(os.environ.get("TASKRUNNER_URL", DEFAULT_URL))
# --8<-- [end:runner]
MAX_LINKS = 50  # checked per page; the rest are left out (and counted)
LINK_TIMEOUT = 5.0  # seconds for each link: a dead host costs no more than that


class PageMissing(Exception):
    """The page answered 4xx: another attempt would not help."""


class NotAPage(Exception):
    """The URL answered, but not with HTML: there are no links to check."""


class LinkParser(HTMLParser):
    """Collects a page's title and the target of each of its `<a href>` links."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.hrefs: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def links_of(page_url: str, document: str) -> tuple[str, list[str]]:
    """The page's title and the absolute http(s) URLs it links to, each once, in order:
    fragments dropped (`#top` is the page itself, which is not checked again), mailto: and
    the like left out (they are no web pages)."""
    parser = LinkParser()
    parser.feed(document)
    itself = urldefrag(page_url).url
    links: dict[str, None] = {}  # a dict keeps the order of first appearance
    for href in parser.hrefs:
        link = urldefrag(urljoin(page_url, href.strip())).url
        if urlsplit(link).scheme in ("http", "https") and link != itself:
            links.setdefault(link)
    return " ".join(parser.title.split()), list(links)


def check_link(http: httpx.Client, link: str) -> dict[str, Any]:
    """Request `link` and read its status, without downloading its body."""
    try:
        with http.stream("GET", link) as response:
            status = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return {"url": link, "status": None, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"url": link, "status": status, "ok": status < 400, "error": None}


# A plain `def` task: workers run it in a thread, so its blocking HTTP calls hold up no other
# job. Only the page's own network errors and 5xx answers are retried (a broken link is a
# finding, not a failure); PageMissing and NotAPage fail the job at once.
@runner.task(retries=2, timeout=MAX_LINKS * LINK_TIMEOUT + 60, retry_on=httpx.HTTPError)
def check_links(url: str) -> dict[str, Any]:
    """Fetch the page at `url` and check each link on it (at most MAX_LINKS)."""
    job = current_job()
    with httpx.Client(timeout=LINK_TIMEOUT, follow_redirects=True) as http:
        response = http.get(url)
        if response.status_code >= 500:
            response.raise_for_status()  # the server may recover: retried, with backoff
        if response.status_code >= 400:
            raise PageMissing(f"{url} answered {response.status_code} {response.reason_phrase}")
        kind = response.headers.get("content-type", "")
        if "html" not in kind:
            raise NotAPage(f"{url} is {kind or 'of no stated type'}, not an HTML page")
        title, links = links_of(str(response.url), response.text)
        checked = []
        for done, link in enumerate(links[:MAX_LINKS]):
            # stored with the job at once (by a heartbeat), for the check's page to show
            job.report_progress(done, min(len(links), MAX_LINKS), f"checking {link}")
            checked.append(check_link(http, link))
    return {
        "url": url,
        "title": title,
        "links": checked,
        "broken": sum(not link["ok"] for link in checked),
        "left_out": max(len(links) - MAX_LINKS, 0),
    }


# -- the web app -------------------------------------------------------------------------------

app = Flask(__name__)
app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True  # no blank lines for the tags

# Flask escapes what these templates show (render_template_string autoescapes).
LAYOUT = """<!doctype html>
<html><head><meta charset="utf-8">{% if refresh %}<meta http-equiv="refresh" content="1">
{% endif %}<title>Link checker</title></head>
<body>
<h1>Link checker</h1>
{{ body }}
</body></html>
"""
HOME = """<form method="post" action="{{ url_for('start_check') }}">
  <input name="url" type="url" size="60" placeholder="https://example.com/" required>
  <button>Check its links</button>
</form>"""
CHECK = """{% set result = info.result %}
{% if info.state.value == "succeeded" %}
<h2>{{ result.title or result.url }}</h2>
<p>{{ result.links | length }} links on <a href="{{ result.url }}">{{ result.url }}</a>,
{{ result.broken }} broken{% if result.left_out %} ({{ result.left_out }} more left out)
{%- endif %}.</p>
<table>
<tr><th>link</th><th>status</th></tr>
{% for link in result.links %}
<tr class="{{ 'ok' if link.ok else 'broken' }}"><td><a href="{{ link.url }}">{{ link.url }}</a></td>
<td>{{ link.status or link.error }}</td></tr>
{% endfor %}
</table>
{% elif info.state.value == "failed" and info.error %}
<p>Checking {{ url }} failed after {{ info.attempt }} attempt(s):
{{ info.error.type }}: {{ info.error.message }}</p>
{% elif info.finished %}
<p>The check of {{ url }} was {{ info.state.value }}.</p>
{% else %}
<p>Checking {{ url }}: {{ info.state.value }}
{%- if info.error %} (after a failed attempt: {{ info.error.type }}: {{ info.error.message }})
{%- endif %}
{%- if info.progress and info.progress.total %}, {{ info.progress.done | int }} of
{{ info.progress.total | int }} links checked{% endif %}.
This page reloads every second.</p>
{% endif %}
<p><a href="{{ url_for('home') }}">Check another page</a></p>"""


def page(body: str, *, refresh: bool = False, **context: Any) -> str:
    inner = Markup(render_template_string(body, **context))  # escaped already: kept as is
    return render_template_string(LAYOUT, body=inner, refresh=refresh)


@app.get("/")
def home() -> str:
    return page(HOME)


# --8<-- [start:views]
@app.post("/checks")
def start_check() -> Response:
    url = request.form.get("url", "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        abort(400, "the page's URL must start with http:// or https://")
    job = check_links.enqueue_sync(url)  # stored for a worker; returns at once
    return redirect(url_for("check_page", job_id=job.id), code=303)


def find_check(job_id: str) -> JobInfo:
    try:
        info = runner.get_job_sync(job_id)
    except JobNotFound:
        abort(404, "no such check (or its record has expired)")
    if info.task != check_links.name:  # another task's job is no check
        abort(404, "no such check")
    return info
    # --8<-- [end:views]


@app.get("/checks/<job_id>")
def check_page(job_id: str) -> str:
    info = find_check(job_id)
    url = (info.args or ["?"])[0]
    return page(CHECK, refresh=not info.finished, info=info, url=url)


@app.get("/api/checks/<job_id>")
def check_status(job_id: str) -> dict[str, Any]:
    """The check as JSON, for scripts that poll."""
    info = find_check(job_id)
    progress = info.progress
    return {
        "id": info.id,
        "url": (info.args or [None])[0],
        "state": info.state.value,
        "finished": info.finished,
        "attempt": info.attempt,
        "max_attempts": info.max_attempts,
        "progress": None if progress is None else {"done": progress.done, "total": progress.total},
        "result": info.result,
        "error": None if info.error is None else f"{info.error.type}: {info.error.message}",
    }
