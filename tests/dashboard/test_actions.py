"""Retry and cancel: they work, and only with auth, a CSRF token and a same-origin request."""

from __future__ import annotations

import httpx
import pytest

from taskrunner import JobNotFound, JobState
from taskrunner.dashboard import dashboard
from tests.dashboard.conftest import ORIGIN, TOKEN, Seeded, client_for, csrf_of, log_in


async def logged_in_form(client: httpx.AsyncClient, job_id: str) -> str:
    await log_in(client)
    page = await client.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    return csrf_of(page.text)


async def state_of(seeded: Seeded, job_id: str) -> JobState:
    return (await seeded.runner.get_job(job_id)).state


async def test_retry_from_the_job_page(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        csrf = await logged_in_form(client, seeded.failed)
        response = await client.post(
            f"/jobs/{seeded.failed}/retry",
            data={"csrf": csrf, "next": "/jobs?state=failed"},
            headers={"origin": ORIGIN},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/jobs?state=failed&notice=retried"
        assert await state_of(seeded, seeded.failed) is JobState.QUEUED
        after = await client.get(response.headers["location"])
        assert "The job is queued again." in after.text
        again = await client.post(
            f"/jobs/{seeded.failed}/retry", data={"csrf": csrf}, headers={"origin": ORIGIN}
        )
        assert again.headers["location"] == f"/jobs/{seeded.failed}?notice=not-retryable"


async def test_cancel_a_delayed_job(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        csrf = await logged_in_form(client, seeded.delayed)
        response = await client.post(
            f"/jobs/{seeded.delayed}/cancel", data={"csrf": csrf}, headers={"origin": ORIGIN}
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/jobs/{seeded.delayed}?notice=cancelled"
        assert await state_of(seeded, seeded.delayed) is JobState.CANCELLED
        finished = await client.post(
            f"/jobs/{seeded.succeeded}/cancel", data={"csrf": csrf}, headers={"origin": ORIGIN}
        )
        assert finished.headers["location"].endswith("notice=finished")
        assert await state_of(seeded, seeded.succeeded) is JobState.SUCCEEDED


async def test_csrf_token_missing_wrong_or_from_another_session(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client, client_for(app) as other:
        await logged_in_form(client, seeded.failed)
        their_token = await logged_in_form(other, seeded.failed)
        for form in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": their_token}):
            response = await client.post(
                f"/jobs/{seeded.failed}/retry", data=form, headers={"origin": ORIGIN}
            )
            assert response.status_code == 403, form
            assert "CSRF" in response.text
        assert await state_of(seeded, seeded.failed) is JobState.FAILED


async def test_cross_origin_posts_are_refused(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        csrf = await logged_in_form(client, seeded.failed)
        url = f"/jobs/{seeded.failed}/retry"
        refused = [
            {"origin": "http://evil.example"},
            {"origin": "http://127.0.0.1:9999"},
            {"origin": "https://127.0.0.1.evil.example"},
            {"origin": "null"},
            {"referer": "http://evil.example/page"},
            {},  # neither Origin nor Referer
        ]
        for headers in refused:
            response = await client.post(url, data={"csrf": csrf}, headers=headers)
            assert response.status_code == 403, headers
        assert await state_of(seeded, seeded.failed) is JobState.FAILED
        by_referer = await client.post(
            url, data={"csrf": csrf}, headers={"referer": f"{ORIGIN}/jobs/{seeded.failed}"}
        )
        assert by_referer.status_code == 303
        assert await state_of(seeded, seeded.failed) is JobState.QUEUED


async def test_actions_need_auth_and_post(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        anonymous = await client.post(
            f"/jobs/{seeded.failed}/retry", data={"csrf": "x"}, headers={"origin": ORIGIN}
        )
        assert anonymous.status_code == 401
        await log_in(client)
        assert (await client.get(f"/jobs/{seeded.failed}/retry")).status_code == 405
        odd = await client.post(
            "/jobs/a%0d%0aSet-Cookie:x=1/retry",
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        assert odd.status_code == 404 and "set-cookie" not in odd.headers
        unknown = await client.post(
            "/jobs/0000-0000/cancel", headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert unknown.status_code == 409 and unknown.json()["notice"] == "gone"
        assert await state_of(seeded, seeded.failed) is JobState.FAILED


async def test_scripts_use_the_bearer_token(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    bearer = {"authorization": f"Bearer {TOKEN}"}
    async with client_for(app) as client:
        hostile = await client.post(
            f"/jobs/{seeded.failed}/retry", headers={**bearer, "origin": "http://evil.example"}
        )
        assert hostile.status_code == 403
        wrong = await client.post(
            f"/jobs/{seeded.failed}/retry", headers={"authorization": "Bearer wrong-token"}
        )
        assert wrong.status_code == 401
        assert await state_of(seeded, seeded.failed) is JobState.FAILED
        done = await client.post(f"/jobs/{seeded.failed}/retry", headers=bearer)
        assert done.status_code == 200 and done.json()["done"] is True
        assert await state_of(seeded, seeded.failed) is JobState.QUEUED
        refused = await client.post(f"/jobs/{seeded.succeeded}/retry", headers=bearer)
        assert refused.status_code == 409 and refused.json()["notice"] == "not-retryable"


async def test_without_auth_posts_still_need_a_session_token(seeded: Seeded) -> None:
    app = dashboard(seeded.runner)
    async with client_for(app) as client:
        url = f"/jobs/{seeded.failed}/retry"
        assert (await client.post(url, headers={"origin": ORIGIN})).status_code == 403
        page = await client.get(f"/jobs/{seeded.failed}")
        csrf = csrf_of(page.text)
        refused = await client.post(
            url, data={"csrf": csrf}, headers={"origin": "http://evil.example"}
        )
        assert refused.status_code == 403
        assert (await client.post(url, data={}, headers={"origin": ORIGIN})).status_code == 403
        assert await state_of(seeded, seeded.failed) is JobState.FAILED
        done = await client.post(url, data={"csrf": csrf}, headers={"origin": ORIGIN})
        assert done.status_code == 303
        assert await state_of(seeded, seeded.failed) is JobState.QUEUED


async def test_delete_a_finished_job_from_its_page(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        csrf = await logged_in_form(client, seeded.succeeded)
        page = (await client.get(f"/jobs/{seeded.succeeded}")).text
        assert f'action="/jobs/{seeded.succeeded}/delete"' in page
        delayed_page = (await client.get(f"/jobs/{seeded.delayed}")).text
        assert "/delete" not in delayed_page  # not finished: no delete button
        refused = await client.post(
            f"/jobs/{seeded.delayed}/delete", data={"csrf": csrf}, headers={"origin": ORIGIN}
        )
        assert refused.headers["location"] == f"/jobs/{seeded.delayed}?notice=not-deletable"
        assert await state_of(seeded, seeded.delayed) is JobState.SCHEDULED
        no_csrf = await client.post(f"/jobs/{seeded.succeeded}/delete", headers={"origin": ORIGIN})
        assert no_csrf.status_code == 403
        deleted = await client.post(
            f"/jobs/{seeded.succeeded}/delete",
            data={"csrf": csrf, "next": "/jobs"},
            headers={"origin": ORIGIN},
        )
        assert deleted.headers["location"] == "/jobs?notice=deleted"
        assert "The job is deleted." in (await client.get("/jobs?notice=deleted")).text
        with pytest.raises(JobNotFound):
            await seeded.runner.get_job(seeded.succeeded)
        script = await client.post(
            f"/jobs/{seeded.failed}/delete", headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert script.json() == {"job": seeded.failed, "done": True, "notice": "deleted"}
