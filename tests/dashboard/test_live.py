"""The live job page (progress bar, attempts as a timeline, polled from the JSON API) and
the batch pages with their members' progress, on every backend."""

from __future__ import annotations

import asyncio
import re

from taskrunner import TaskRunner, current_job
from taskrunner.dashboard import dashboard
from tests.dashboard.conftest import TOKEN, Seeded, client_for, log_in
from tests.helpers import eventually

BEARER = {"authorization": f"Bearer {TOKEN}"}


def slow_task(runner: TaskRunner, release: asyncio.Event) -> None:
    @runner.task(name="dash.slow", queue="slow")
    async def slow(rows: int) -> int:
        current_job().report_progress(3, total=rows, message="rows copied")
        await release.wait()
        return rows


async def test_a_running_job_page_is_live_with_a_progress_bar(seeded: Seeded) -> None:
    runner = seeded.runner
    release = asyncio.Event()
    slow_task(runner, release)
    async with client_for(dashboard(runner, token=TOKEN)) as client:
        await log_in(client)
        async with runner.worker(concurrency=1, queues=["slow"]):
            job = await runner.tasks["dash.slow"].enqueue(10)

            async def reported() -> bool:
                return (await runner.get_job(job.id)).progress is not None

            await eventually(reported)
            assert (await runner.get_job(job.id)).state.value == "running"
            page = (await client.get(f"/jobs/{job.id}")).text
            assert 'id="live"' in page and f'data-job-url="/api/jobs/{job.id}"' in page
            assert 'data-state="running"' in page
            assert '<progress id="progress" max="10" value="3"' in page
            assert "3 of 10 rows copied" in page
            assert '<rect class="bar bar-running"' in page  # the attempt under way
            data = (await client.get(f"/api/jobs/{job.id}")).json()
            assert data["progress"] == {"done": 3, "total": 10, "message": "rows copied"}
            release.set()
            assert await job.result(timeout=30) == 10
        done = (await client.get(f"/jobs/{job.id}")).text
        assert 'id="live"' not in done  # nothing more to follow
        assert '<rect class="bar bar-succeeded"' in done


async def test_attempts_show_as_a_timeline(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        await log_in(client)
        failed = (await client.get(f"/jobs/{seeded.failed}")).text
        bars = re.findall(r'<rect class="bar bar-(\w+)" x="([\d.]+)"[^>]*width="([\d.]+)"', failed)
        assert [bar[0] for bar in bars] == ["failed"]
        assert 0 <= float(bars[0][1]) <= 1000 and float(bars[0][2]) >= 4
        assert "<title>attempt 1: failed," in failed
        delayed = (await client.get(f"/jobs/{seeded.delayed}")).text
        assert 'class="timeline"' not in delayed and "No attempt has ended yet." in delayed
        assert 'id="live"' in delayed and 'data-state="scheduled"' in delayed


async def test_batch_pages_show_member_progress(seeded: Seeded) -> None:
    runner = seeded.runner
    ok = runner.tasks["dash.ok"]
    batch = await runner.batch([ok.prepare(n) for n in range(3)], on_success=ok.prepare(100))
    async with client_for(dashboard(runner, token=TOKEN)) as client:
        await log_in(client)
        listing = (await client.get("/batches")).text
        assert f'<tr data-batch="{batch.id}">' in listing
        page = (await client.get(f"/batches/{batch.id}")).text
        assert "0 of 3 members ended" in page and 'id="live-batch"' in page
        assert "(not yet enqueued)" in page
        members = re.findall(r'<tr data-job="([^"]+)"', page)
        assert members == await batch.members()
        member_page = (await client.get(f"/jobs/{members[0]}")).text
        assert f'href="/batches/{batch.id}"' in member_page

        await runner.worker(burst=True, queues=["default"]).run()
        data = (await client.get(f"/api/batches/{batch.id}")).json()
        assert (data["settled"], data["total"], data["ended"]) == (3, 3, True)
        assert data["counts"]["succeeded"] == 3 and data["success_fired"] is True
        page = (await client.get(f"/batches/{batch.id}")).text
        assert "3 of 3 members ended" in page and 'id="live-batch"' not in page
        assert f'<a href="/jobs/{data["on_success"]}">' in page and "(enqueued)" in page
        assert '<progress class="batch" max="3" value="3"' in page
        assert (await client.get("/batches/no-such-batch")).status_code == 404
        missing = await client.get("/api/batches/no-such-batch", headers=BEARER)
        assert missing.status_code == 404
