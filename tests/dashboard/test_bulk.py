"""Bulk actions on ticked jobs, "retry all failed" per queue, pause and resume: each works on
every backend, says how many jobs it changed, and needs auth, CSRF and the same origin."""

from __future__ import annotations

import httpx
import pytest

from taskrunner import JobNotFound, JobState
from taskrunner.dashboard import bulk, dashboard
from tests.dashboard.conftest import ORIGIN, TOKEN, Seeded, client_for, csrf_of, log_in

BEARER = {"authorization": f"Bearer {TOKEN}"}
UNKNOWN = "0000-0000-unknown"


async def session_csrf(client: httpx.AsyncClient) -> str:
    await log_in(client)
    page = await client.get("/jobs")
    assert page.status_code == 200
    return csrf_of(page.text)


async def post(
    client: httpx.AsyncClient, path: str, csrf: str, **fields: str | list[str]
) -> httpx.Response:
    return await client.post(path, data={"csrf": csrf, **fields}, headers={"origin": ORIGIN})


async def state_of(seeded: Seeded, job_id: str) -> JobState:
    return (await seeded.runner.get_job(job_id)).state


async def test_the_job_list_has_checkboxes_and_bulk_buttons(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        await log_in(client)
        page = (await client.get("/jobs")).text
    assert 'form id="bulk"' in page and 'action="/jobs/bulk"' in page
    for job_id in (seeded.failed, seeded.succeeded, seeded.delayed):
        assert f'name="id" value="{job_id}" form="bulk"' in page
    for verb in ("retry", "cancel", "delete"):
        assert f'name="action" value="{verb}"' in page


async def test_bulk_retry_cancel_and_delete_say_how_many(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        csrf = await session_csrf(client)
        retried = await post(
            client, "/jobs/bulk", csrf, action="retry", id=[seeded.failed, seeded.succeeded],
            next="/jobs?state=failed",
        )  # fmt: skip
        assert retried.status_code == 303
        assert retried.headers["location"] == "/jobs?state=failed&notice=bulk-retry&count=1&of=2"
        shown = (await client.get(retried.headers["location"])).text
        assert "1 of the 2 selected jobs queued again" in shown
        assert await state_of(seeded, seeded.failed) is JobState.QUEUED
        assert await state_of(seeded, seeded.succeeded) is JobState.SUCCEEDED

        ids = [seeded.delayed, seeded.failed, seeded.succeeded, UNKNOWN]
        cancelled = await post(client, "/jobs/bulk", csrf, action="cancel", id=ids)
        assert cancelled.headers["location"] == "/jobs?notice=bulk-cancel&count=2&of=4"
        assert await state_of(seeded, seeded.delayed) is JobState.CANCELLED
        assert await state_of(seeded, seeded.failed) is JobState.CANCELLED
        assert await state_of(seeded, seeded.succeeded) is JobState.SUCCEEDED

        deleted = await post(client, "/jobs/bulk", csrf, action="delete", id=ids)
        assert deleted.headers["location"] == "/jobs?notice=bulk-delete&count=3&of=4"
        for job_id in (seeded.delayed, seeded.failed, seeded.succeeded):
            with pytest.raises(JobNotFound):
                await seeded.runner.get_job(job_id)


async def test_delete_leaves_unfinished_jobs(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        csrf = await session_csrf(client)
        response = await post(client, "/jobs/bulk", csrf, action="delete", id=[seeded.delayed])
        assert response.headers["location"] == "/jobs?notice=bulk-delete&count=0&of=1"
        assert await state_of(seeded, seeded.delayed) is JobState.SCHEDULED


async def test_bulk_input_is_checked(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        csrf = await session_csrf(client)
        odd = await post(client, "/jobs/bulk", csrf, action="explode", id=[seeded.failed])
        assert odd.status_code == 400 and "Choose retry, cancel or delete" in odd.text
        bad_id = await post(client, "/jobs/bulk", csrf, action="retry", id=["<script>"])
        assert bad_id.status_code == 400 and "<script>" not in bad_id.text
        many = [seeded.failed[:-4] + f"{n:04x}" for n in range(bulk.MAX_SELECTED + 1)]
        too_many = await post(client, "/jobs/bulk", csrf, action="retry", id=many)
        assert too_many.status_code == 400 and "up to 200 job ids" in too_many.text
        most = await post(client, "/jobs/bulk", csrf, action="cancel", id=many[1:])
        assert most.status_code == 303  # 200 full-length ids fit in one form
        none = await post(client, "/jobs/bulk", csrf, action="retry")
        assert none.headers["location"] == "/jobs?notice=none-selected&count=0&of=0"
        assert "No job was selected." in (await client.get(none.headers["location"])).text
    assert await state_of(seeded, seeded.failed) is JobState.FAILED


async def test_bulk_actions_need_csrf_and_the_same_origin(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        form = {"action": "retry", "id": seeded.failed}
        anonymous = await client.post("/jobs/bulk", data=form, headers={"origin": ORIGIN})
        assert anonymous.status_code == 401
        csrf = await session_csrf(client)
        no_token = await client.post("/jobs/bulk", data=form, headers={"origin": ORIGIN})
        assert no_token.status_code == 403
        hostile = await client.post(
            "/jobs/bulk", data={**form, "csrf": csrf}, headers={"origin": "http://evil.example"}
        )
        assert hostile.status_code == 403
        for path in ("/queues/default/pause", "/queues/default/retry-failed"):
            assert (await client.post(path, headers={"origin": ORIGIN})).status_code == 403
    assert await state_of(seeded, seeded.failed) is JobState.FAILED
    assert await seeded.runner.paused() == []


async def test_scripts_get_json_with_the_ids_done(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        form = {"action": "retry", "id": [seeded.failed, seeded.succeeded]}
        response = await client.post("/jobs/bulk", data=form, headers=BEARER)
        assert response.status_code == 200
        assert response.json() == {
            "done": True, "notice": "bulk-retry", "count": 1, "of": 2, "ids": [seeded.failed]
        }  # fmt: skip
        again = await client.post("/jobs/bulk", data=form, headers=BEARER)
        assert again.status_code == 409 and again.json()["ids"] == []


async def test_retry_all_failed_of_a_queue(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "RETRY_CHUNK", 2)  # pages through the failed jobs
    runner = seeded.runner
    boom = runner.tasks["dash.boom"]
    others = [await boom.options(queue="mail").enqueue("x") for _ in range(4)]
    await runner.worker(burst=True, queues=["default", "mail"]).run()
    async with client_for(dashboard(runner, token=TOKEN)) as client:
        csrf = await session_csrf(client)
        page = (await client.get("/jobs?state=failed&queue=mail")).text
        assert 'action="/queues/mail/retry-failed"' in page
        response = await post(client, "/queues/mail/retry-failed", csrf, next="/")
        assert response.headers["location"] == "/?notice=retried-failed&count=4"
        assert (
            "4 failed jobs of the queue queued again"
            in (await client.get(response.headers["location"])).text
        )
        for job in others:
            assert await state_of(seeded, job.id) is JobState.QUEUED
        assert await state_of(seeded, seeded.failed) is JobState.FAILED  # another queue
        none_left = await post(client, "/queues/mail/retry-failed", csrf)
        assert none_left.headers["location"] == "/?notice=retried-failed&count=0"
        bad = await post(client, "/queues/no%20such/retry-failed", csrf)
        assert bad.status_code == 404


async def test_pause_and_resume_a_queue_from_the_overview(seeded: Seeded) -> None:
    runner = seeded.runner
    async with client_for(dashboard(runner, token=TOKEN)) as client:
        csrf = await session_csrf(client)
        overview = (await client.get("/")).text
        assert 'action="/queues/default/pause"' in overview
        assert 'action="/queues/default/retry-failed"' in overview  # it has a failed job
        paused = await post(client, "/queues/default/pause", csrf, next="/")
        assert paused.headers["location"] == "/?notice=paused"
        assert await runner.paused() == ["default"]
        overview = (await client.get(paused.headers["location"])).text
        assert "The queue is paused" in overview
        assert 'default</a> <span class="state state-paused">paused</span>' in overview
        assert 'action="/queues/default/resume"' in overview
        resumed = await post(client, "/queues/default/resume", csrf)
        assert resumed.headers["location"] == "/?notice=resumed"
        assert await runner.paused() == []
        bad = await post(client, "/queues/-bad-/pause", csrf)
        assert bad.status_code == 404
    async with client_for(dashboard(runner, token=TOKEN)) as script:
        done = await script.post("/queues/mail/pause", headers=BEARER)
        assert done.json() == {"queue": "mail", "done": True, "notice": "paused"}
    assert await runner.paused() == ["mail"]
