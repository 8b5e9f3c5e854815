"""An RSS reader: a form takes a feed URL, a background job fetches it, a page shows the result.

Run it from a clone of the repository:

    uv run uvicorn examples.rss_reader:app

then open http://127.0.0.1:8000 and submit the URL of an RSS or Atom feed. The form's
handler enqueues a fetch and redirects at once to the job's page, which reloads itself every
second until the job has finished, then lists the feed's entries (or says why it failed).

The worker runs inside the web process, started and stopped by the app's lifespan, on the
memory backend. Set TASKRUNNER_URL=redis://... to keep the jobs in Redis instead; then
`taskrunner run examples.rss_reader:runner` adds worker processes beside the web one.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Form, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse

from taskrunner import JobInfo, JobNotFound, JobState, State, TaskRunner

runner = TaskRunner()  # TASKRUNNER_URL, else memory://: jobs live in this process
MAX_ENTRIES = 50


@runner.on_startup
async def open_http_client(state: State) -> None:
    state.http = httpx.AsyncClient(timeout=10, follow_redirects=True)


@runner.on_shutdown
async def close_http_client(state: State) -> None:
    await state.http.aclose()


class NotAFeed(Exception):
    """The URL answered, but not with a feed: another attempt would not help."""


# Network errors and 5xx answers are worth another try (httpx.HTTPError); NotAFeed is not.
@runner.task(retries=3, timeout=30, retry_on=httpx.HTTPError)
async def fetch_feed(url: str) -> dict[str, Any]:
    """Download a feed and return its title and entries."""
    http: httpx.AsyncClient = runner.state.http
    response = await http.get(url)
    if response.status_code >= 500:
        response.raise_for_status()  # the server may recover: retried, with backoff
    if response.status_code >= 400:
        raise NotAFeed(f"{url} answered {response.status_code} {response.reason_phrase}")
    return parse_feed(response.content)


def parse_feed(document: bytes) -> dict[str, Any]:
    """The title and entries of an RSS 2.0 or Atom document."""
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as exc:
        raise NotAFeed(f"not XML: {exc}") from None
    atom = "{http://www.w3.org/2005/Atom}"
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise NotAFeed("an <rss> document without a <channel>")
        title = channel.findtext("title", "")
        entries = [
            {"title": item.findtext("title", ""), "link": item.findtext("link", "")}
            for item in channel.iter("item")
        ]
    elif root.tag == f"{atom}feed":
        title = root.findtext(f"{atom}title", "")
        entries = []
        for entry in root.iter(f"{atom}entry"):
            link = entry.find(f"{atom}link")
            entries.append(
                {
                    "title": entry.findtext(f"{atom}title", ""),
                    "link": "" if link is None else link.get("href", ""),
                }
            )
    else:
        raise NotAFeed(f"the document is <{root.tag}>, not an RSS or Atom feed")
    return {"title": title.strip(), "entries": entries[:MAX_ENTRIES]}


# -- the web app -------------------------------------------------------------------------------


# --8<-- [start:lifespan]
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # connect to the backend, then run a worker for as long as the app runs; on shutdown
    # the worker stops taking jobs and gives running ones its grace period to finish
    async with runner, runner.worker(concurrency=10):
        yield


app = FastAPI(title="RSS reader", lifespan=lifespan)
# --8<-- [end:lifespan]


@app.get("/", response_class=HTMLResponse)
async def home() -> str:
    return page(
        "RSS reader",
        """<form method="post" action="/feeds">
  <input name="url" type="url" size="60" placeholder="https://example.com/feed.xml" required>
  <button>Fetch</button>
</form>""",
    )


# --8<-- [start:enqueue]
@app.post("/feeds")
async def add_feed(url: Annotated[str, Form()]) -> RedirectResponse:
    if urlsplit(url).scheme not in ("http", "https"):
        raise HTTPException(400, "the feed URL must start with http:// or https://")
    job = await fetch_feed.enqueue(url)  # stored for a worker; returns at once
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
    # --8<-- [end:enqueue]


async def find_job(job_id: str) -> JobInfo:
    try:
        return await runner.get_job(job_id)
    except JobNotFound:
        raise HTTPException(404, "no such job (or its record has expired)") from None


@app.get("/api/jobs/{job_id}")
async def job_status(job_id: str) -> dict[str, Any]:
    """The job as JSON, for scripts that poll."""
    info = await find_job(job_id)
    return {
        "id": info.id,
        "state": info.state,
        "attempt": info.attempt,
        "max_attempts": info.max_attempts,
        "result": info.result,
        "error": None if info.error is None else f"{info.error.type}: {info.error.message}",
    }


@app.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(job_id: str) -> str:
    info = await find_job(job_id)
    url = html.escape(str((info.args or ["?"])[0]))
    if info.state is JobState.SUCCEEDED:
        items = "\n".join(
            f'<li><a href="{html.escape(entry["link"])}">'
            f"{html.escape(entry['title'] or entry['link'])}</a></li>"
            for entry in info.result["entries"]
        )
        body = f"<h2>{html.escape(info.result['title'] or url)}</h2>\n<ul>\n{items}\n</ul>"
    elif info.state is JobState.FAILED and info.error is not None:
        body = (
            f"<p>Fetching {url} failed after {info.attempt} attempt(s): "
            f"{html.escape(info.error.type)}: {html.escape(info.error.message)}</p>"
        )
    elif info.finished:
        body = f"<p>The fetch of {url} was {info.state}.</p>"
    else:
        retrying = f", attempt {info.attempt} failed" if info.error else ""
        body = f"<p>Fetching {url}: {info.state}{retrying}. This page reloads every second.</p>"
    refresh = "" if info.finished else '<meta http-equiv="refresh" content="1">'
    return page("Feed", body + '\n<p><a href="/">Fetch another feed</a></p>', head=refresh)


def page(title: str, body: str, head: str = "") -> str:
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8">{head}'
        f"<title>{html.escape(title)}</title></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"{body}\n</body></html>\n"
    )
