"""The dashboard shows a job whose stored due time is beyond the year 9999 (plain SQL or an
older version could store one) instead of failing the page."""

from __future__ import annotations

from taskrunner.dashboard import dashboard
from taskrunner.testing import new_job
from taskrunner.testing.conformance.helpers import BEYOND_YEAR_9999
from tests.dashboard.conftest import TOKEN, Seeded, client_for, log_in


async def test_pages_show_a_due_time_beyond_the_year_9999(seeded: Seeded) -> None:
    far = new_job(task="dash.ok", at=BEYOND_YEAR_9999)
    await seeded.runner.backend.enqueue([far])
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        await log_in(client)
        for path in ("/", "/jobs", "/jobs?state=scheduled", f"/jobs/{far.id}"):
            page = await client.get(path)
            assert page.status_code == 200, path
        assert "9999-12-31 23:59:59" in (await client.get(f"/jobs/{far.id}")).text
        data = (await client.get(f"/api/jobs/{far.id}")).json()
        assert data["run_at"].startswith("9999-12-31T23:59:59")
        assert (await client.get("/api/jobs")).status_code == 200
