"""A queue's page and its per-minute series, and times shown in the configured zone."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from taskrunner.dashboard import dashboard
from tests.dashboard.conftest import TOKEN, Seeded, client_for, log_in

BEARER = {"authorization": f"Bearer {TOKEN}"}


async def test_a_queue_page_has_its_counts_charts_and_jobs(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        await log_in(client)
        overview = (await client.get("/")).text
        assert '<a href="/queues/default">default</a>' in overview
        page = (await client.get("/queues/default")).text
        assert "<h1>Queue <code>default</code>" in page
        assert 'data-series-url="/api/queues/default"' in page
        for series in ("succeeded", "failed", "runtime_p50", "wait_p50"):
            assert f'data-series="{series}"' in page
        assert 'href="/jobs?queue=default&amp;state=failed">1</a>' in page
        assert 'action="/queues/default/pause"' in page
        assert 'action="/queues/default/retry-failed"' in page
        for job_id in (seeded.failed, seeded.succeeded, seeded.delayed):
            assert f'<tr data-job="{job_id}">' in page
        empty = await client.get("/queues/nothing-here")  # no job yet: shown empty
        assert empty.status_code == 200 and "No jobs." in empty.text
        assert 'action="/queues/nothing-here/pause"' in empty.text
        assert (await client.get("/queues/-bad")).status_code == 404


async def test_the_queue_series_feed_its_charts(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        data = (await client.get("/api/queues/default", headers=BEARER)).json()
        assert data["queue"] == "default" and data["counts"]["failed"] == 1
        series = data["series"]
        assert len(series["minutes"]) == 60
        assert len(series["succeeded"]) == len(series["failed"]) == 60
        assert len(series["runtime_p50"]) == 60
        assert sum(series["succeeded"]) == 1 and sum(series["failed"]) == 1
        runtimes = [r for r in series["runtime_p50"] if r is not None]
        assert runtimes and all(r >= 0 for r in runtimes)
        assert len(series["wait_p50"]) == 60
        waits = [w for w in series["wait_p50"] if w is not None]
        assert waits and all(w >= 0 for w in waits)  # the two jobs that ran waited a little
        other = (await client.get("/api/queues/reports", headers=BEARER)).json()
        assert sum(other["series"]["succeeded"]) == 0  # another queue's series is its own
        missing = await client.get("/api/queues/-bad", headers=BEARER)
        assert missing.status_code == 404


async def test_times_show_in_the_configured_zone(seeded: Seeded) -> None:
    job = await seeded.runner.get_job(seeded.failed)
    for zone in ("UTC", "Asia/Tokyo", "America/New_York"):
        app = dashboard(seeded.runner, token=TOKEN, timezone=zone)
        async with client_for(app) as client:
            await log_in(client)
            page = (await client.get(f"/jobs/{seeded.failed}")).text
        assert f"times in {zone}" in page and f'data-zone="{zone}"' in page
        shown = re.search(
            rf'<dt>enqueued</dt><dd><time datetime="{re.escape(job.enqueued_at.isoformat())}">'
            r"([^<]+)</time>",
            page,
        )
        assert shown, page
        local = job.enqueued_at.astimezone(ZoneInfo(zone))
        assert shown.group(1) == local.strftime("%Y-%m-%d %H:%M:%S")
