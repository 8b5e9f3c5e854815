"""examples/rss_reader.py: the form enqueues, the page polls, the result shows; no internet."""

from __future__ import annotations

import threading

from examples import rss_reader
from taskrunner.testing import memory_harness
from tests.examples.conftest import LocalServer, eventually_json, in_process, serve_app

RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel>
  <title>Local news</title>
  <item><title>First &amp; foremost</title><link>http://news.test/1</link></item>
  <item><title>Second</title><link>http://news.test/2</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>An Atom feed</title>
  <entry><title>Only entry</title><link href="http://atom.test/1"/></entry>
</feed>"""


async def test_a_posted_feed_is_fetched_in_the_background(local_server: LocalServer) -> None:
    hold = threading.Event()
    feed = local_server.add("/news.xml", RSS, "application/rss+xml", hold=hold)
    async with serve_app(rss_reader.app, rss_reader.runner) as client:
        assert '<form method="post" action="/feeds">' in (await client.get("/")).text

        posted = await client.post("/feeds", data={"url": feed})
        # the handler answers at once, while the feed server still holds the request
        assert posted.status_code == 303
        job_page = posted.headers["location"]
        assert job_page.startswith("/jobs/")
        waiting = await client.get(job_page)
        assert 'http-equiv="refresh"' in waiting.text  # the page polls while the job runs
        assert "This page reloads every second" in waiting.text

        hold.set()
        job_id = job_page.removeprefix("/jobs/")
        status = await eventually_json(client, f"/api/jobs/{job_id}", "result")
        assert status["state"] == "succeeded"
        assert status["result"] == {
            "title": "Local news",
            "entries": [
                {"title": "First & foremost", "link": "http://news.test/1"},
                {"title": "Second", "link": "http://news.test/2"},
            ],
        }
        shown = (await client.get(job_page)).text
        assert 'http-equiv="refresh"' not in shown
        assert "<h2>Local news</h2>" in shown
        assert '<a href="http://news.test/1">First &amp; foremost</a>' in shown


# --8<-- [start:atom]
async def test_atom_feeds_and_a_server_that_recovers(local_server: LocalServer) -> None:
    feed = local_server.add("/atom.xml", ATOM, "application/atom+xml", fail_first=1)
    async with serve_app(rss_reader.app, rss_reader.runner) as client:
        posted = await client.post("/feeds", data={"url": feed})
        job_id = posted.headers["location"].removeprefix("/jobs/")
        status = await eventually_json(client, f"/api/jobs/{job_id}", "result")
    # the 503 was retried (after the default backoff: under a second) and the retry worked
    assert status["attempt"] == 2
    assert status["result"] == {
        "title": "An Atom feed",
        "entries": [{"title": "Only entry", "link": "http://atom.test/1"}],
    }
    # --8<-- [end:atom]


async def test_what_is_not_a_feed_fails_at_once_with_a_reason(local_server: LocalServer) -> None:
    page = local_server.add("/page.html", b"<html><p>hello</p></html>", "text/html")
    broken = local_server.add("/broken.xml", b"<rss><channel>", "application/rss+xml")
    reasons = {
        page: "the document is <html>, not an RSS or Atom feed",
        broken: "not XML",
        local_server.url("/missing.xml"): "answered 404 Not Found",
    }
    # no lifespan, so no worker: the test runs the jobs itself once the forms are posted
    async with memory_harness(rss_reader.runner) as harness, in_process(rss_reader.app) as client:
        posted = [await client.post("/feeds", data={"url": url}) for url in reasons]
        report = await harness.drain()
        assert report.outcomes() == ["failed"] * 3  # NotAFeed is not retried
        for response, (url, reason) in zip(posted, reasons.items(), strict=True):
            job_id = response.headers["location"].removeprefix("/jobs/")
            await harness.assert_enqueued(rss_reader.fetch_feed, url)
            status = (await client.get(f"/api/jobs/{job_id}")).json()
            assert (status["state"], status["attempt"]) == ("failed", 1), status
            assert str(status["error"]).startswith("examples.rss_reader.NotAFeed: ")
            assert reason in str(status["error"])
            shown = (await client.get(f"/jobs/{job_id}")).text
            assert "failed after 1 attempt(s)" in shown
            assert 'http-equiv="refresh"' not in shown


async def test_bad_input_is_refused_by_the_web_app(local_server: LocalServer) -> None:
    async with serve_app(rss_reader.app, rss_reader.runner) as client:
        refused = await client.post("/feeds", data={"url": "file:///etc/passwd"})
        assert refused.status_code == 400
        assert (await client.get("/jobs/no-such-job")).status_code == 404
        assert (await client.get("/api/jobs/no-such-job")).status_code == 404
