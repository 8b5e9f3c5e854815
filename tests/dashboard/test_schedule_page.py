"""The schedules page: schedules in words, the last run and its outcome, and "run now"."""

from __future__ import annotations

import re

import pytest

from taskrunner import cron, every
from taskrunner.dashboard import dashboard
from taskrunner.dashboard.schedules import in_words
from taskrunner.schedules import Schedule
from tests.dashboard.conftest import ORIGIN, TOKEN, Seeded, client_for, csrf_of, log_in


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (every(seconds=30), "every 30 seconds"),
        (every(seconds=1), "every 1 second"),
        (every(seconds=90.5), "every 1 minute 30.5 seconds"),
        (every(minutes=5), "every 5 minutes"),
        (every(hours=1, minutes=30), "every 1 hour 30 minutes"),
        (every(days=1, seconds=1), "every 1 day 1 second"),
        (every(days=2), "every 2 days"),
        (cron("0 9 * * mon", tz="Europe/Paris"), "cron 0 9 * * mon (Europe/Paris)"),
        (cron("*/15 * * * *"), "cron */15 * * * * (UTC)"),
    ],
)
def test_schedules_in_words(schedule: Schedule, words: str) -> None:
    assert in_words(schedule) == words


def tick_row(page: str) -> str:
    row = re.search(r'<tr data-task="dash\.tick">.*?</tr>', page, re.S)
    assert row, page
    return row.group(0)


async def test_run_now_and_the_last_run(seeded: Seeded) -> None:
    runner = seeded.runner
    async with client_for(dashboard(runner, token=TOKEN)) as client:
        await log_in(client)
        page = (await client.get("/schedules")).text
        row = tick_row(page)
        assert "every 5 minutes" in row and "never ran" in row
        assert 'action="/schedules/dash.tick/run"' in row
        csrf = csrf_of(page)
        ran = await client.post(
            "/schedules/dash.tick/run", data={"csrf": csrf}, headers={"origin": ORIGIN}
        )
        assert ran.status_code == 303
        location = ran.headers["location"]
        job_id = re.fullmatch(r"/jobs/([^?]+)\?notice=enqueued", location)
        assert job_id, location
        job = await runner.get_job(job_id.group(1))
        assert (job.task, job.queue, job.state.value) == ("dash.tick", "reports", "queued")
        assert "The task is enqueued now" in (await client.get(location)).text
        await runner.worker(burst=True, queues=["reports"]).run()
        row = tick_row((await client.get("/schedules")).text)
        assert f'href="/jobs/{job.id}"' in row and "state-succeeded" in row


async def test_run_now_is_checked(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        await log_in(client)
        csrf = csrf_of((await client.get("/schedules")).text)
        no_csrf = await client.post("/schedules/dash.tick/run", headers={"origin": ORIGIN})
        assert no_csrf.status_code == 403
        for name in ("dash.ok", "no.such.task"):  # not recurring, unknown
            refused = await client.post(
                f"/schedules/{name}/run", data={"csrf": csrf}, headers={"origin": ORIGIN}
            )
            assert refused.status_code == 404, name
    assert (await seeded.runner.list_jobs(task="dash.tick")).jobs == []
