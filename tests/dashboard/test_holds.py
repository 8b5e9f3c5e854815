"""The dashboard shows what holds a job (its page and `/api/jobs/ID`) and marks paused
queues on the overview, on every backend."""

from __future__ import annotations

from taskrunner.dashboard import dashboard
from tests.dashboard.conftest import TOKEN, Seeded, client_for, log_in

BEARER = {"authorization": f"Bearer {TOKEN}"}


async def test_the_hold_and_the_paused_mark_are_shown(seeded: Seeded) -> None:
    runner = seeded.runner
    await runner.pause("default")
    held = await runner.tasks["dash.ok"].enqueue(3)
    app = dashboard(runner, token=TOKEN)
    async with client_for(app) as client:
        data = (await client.get(f"/api/jobs/{held.id}", headers=BEARER)).json()
        assert data["held_by"] == {"kind": "paused", "detail": "its queue 'default' is paused"}
        listed = (await client.get("/api/jobs", headers=BEARER)).json()["jobs"]
        assert all(job["held_by"] is None for job in listed)  # list views do not ask
        finished = (await client.get(f"/api/jobs/{seeded.succeeded}", headers=BEARER)).json()
        assert finished["held_by"] is None
        await log_in(client)
        page = (await client.get(f"/jobs/{held.id}")).text
        assert "<dt>held by</dt><dd>its queue &#39;default&#39; is paused</dd>" in page
        assert "<h2>Why it is not running</h2>" in page
        assert 'action="/queues/default/resume"' in page  # resume it from there
        overview = (await client.get("/")).text
        assert 'default</a> <span class="state state-paused">paused</span>' in overview
        assert 'reports</a> <span class="state state-paused">' not in overview
        await runner.resume("default")
        page = (await client.get(f"/jobs/{held.id}")).text
        assert "no worker takes queue &#39;default&#39;" in page
        assert "hold-no_worker" in page and "/queues/default/resume" not in page
        overview = (await client.get("/")).text
        assert "state-paused" not in overview


async def test_the_limit_and_rate_keys_and_a_limit_hold_are_shown(seeded: Seeded) -> None:
    from taskrunner import Limit, Rate

    runner = seeded.runner

    @runner.task(name="dash.limited", limit=Limit(1, key="c:{n}"), rate=Rate(9, key="api"))
    async def limited(n: int) -> None: ...

    first, second = await limited.enqueue(1), await limited.enqueue(1)
    await runner.backend.claim(["default"], 10, "dash-worker", 30)
    app = dashboard(runner, token=TOKEN)
    async with client_for(app) as client:
        data = (await client.get(f"/api/jobs/{second.id}", headers=BEARER)).json()
        assert (data["limit_key"], data["rate_key"]) == ("c:1", "api")
        assert data["held_by"]["kind"] == "limit"
        await log_in(client)
        page = (await client.get(f"/jobs/{first.id}")).text
        assert "<dt>limit key</dt><dd>c:1</dd>" in page
        assert "<dt>rate key</dt><dd>api</dd>" in page


async def test_a_job_waiting_on_others_says_which(seeded: Seeded) -> None:
    runner = seeded.runner
    waiting = await runner.tasks["dash.ok"].options(after=[seeded.delayed]).enqueue(5)
    async with client_for(dashboard(runner, token=TOKEN)) as client:
        await log_in(client)
        page = (await client.get(f"/jobs/{waiting.id}")).text
        assert "hold-dependencies" in page and "<h2>Why it is not running</h2>" in page
        assert f"it waits for 1 of the 1 jobs given to after= to end: {seeded.delayed}" in page
        finished = (await client.get(f"/jobs/{seeded.succeeded}")).text
        assert "Why it is not running" not in finished
