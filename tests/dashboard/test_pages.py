"""What the pages show: escaped user data, no passwords, schedules, search, paging, JSON."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from taskrunner import TaskRunner
from taskrunner._present import is_secret_name
from taskrunner.dashboard import dashboard
from taskrunner.memory import MemoryBackend
from tests.dashboard.conftest import (
    ORIGIN,
    TOKEN,
    XSS_ARG,
    XSS_MESSAGE,
    Seeded,
    client_for,
    log_in,
    make_runner,
    seed,
)

# markup that must never reach a page unescaped
RAW = ("<script>alert", "<img src=x", "onerror=alert('arg')>")


async def test_user_data_is_escaped_everywhere(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        await log_in(client)
        pages = {
            path: (await client.get(path)).text
            for path in ("/", "/jobs", "/jobs?state=failed", f"/jobs/{seeded.failed}")
        }
        for path, text in pages.items():
            for raw in RAW:
                assert raw not in text, (path, raw)
        job_page = pages[f"/jobs/{seeded.failed}"]
        assert "&lt;script&gt;alert(&#39;tb&#39;)&lt;/script&gt;" in job_page  # message
        assert "&lt;img src=x onerror=alert(&#39;arg&#39;)&gt;" in job_page  # argument
        assert "raise ValueError(f&#34;{XSS_MESSAGE} {text}&#34;)" in job_page  # traceback
        assert "&lt;script&gt;" in pages["/jobs?state=failed"]
        # the JSON is JSON (served as such, with nosniff), the data intact
        data = (await client.get(f"/api/jobs/{seeded.failed}")).json()
        assert data["args"] == [XSS_ARG]
        assert data["error"]["message"] == f"{XSS_MESSAGE} {XSS_ARG}"
        # a hostile search term comes back escaped too
        found = await client.get("/search", params={"id": "<b>x</b>"})
        assert found.status_code == 404
        assert "<b>x</b>" not in found.text and "&lt;b&gt;x&lt;/b&gt;" in found.text
        # and filter values echoed into the form
        listed = await client.get("/jobs", params={"queue": '"><script>alert(1)</script>'})
        assert "<script>alert(1)" not in listed.text
        searched = await client.get("/jobs", params={"text": '"><script>alert(2)</script>'})
        assert searched.status_code == 200 and "<script>alert(2)" not in searched.text
        assert 'value="&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in searched.text


async def test_the_job_page_shows_attempts_and_result(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        await log_in(client)
        failed = (await client.get(f"/jobs/{seeded.failed}")).text
        assert "dash.boom" in failed and "Traceback (most recent call last)" in failed
        assert re.search(r"<td class=\"num\">1</td>.*state-failed", failed, re.S)
        assert 'class="retry"' in failed and 'class="cancel"' not in failed
        succeeded = (await client.get(f"/jobs/{seeded.succeeded}")).text
        assert "&#34;double&#34;: 42" in succeeded
        assert 'class="retry"' not in succeeded
        delayed = (await client.get(f"/jobs/{seeded.delayed}")).text
        assert "state-scheduled" in delayed and 'class="cancel"' in delayed
        missing = await client.get("/jobs/0000-not-a-job")
        assert missing.status_code == 404


async def test_search_by_id(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        await log_in(client)
        found = await client.get("/search", params={"id": f"  {seeded.failed} "})
        assert found.status_code == 303
        assert found.headers["location"] == f"/jobs/{seeded.failed}"
        assert (await client.get("/search", params={"id": "nope"})).status_code == 404


async def test_backend_passwords_are_never_shown() -> None:
    runner = TaskRunner("redis://app:hunter2-secret@db.internal:6379/0", backend=MemoryBackend())
    app = dashboard(runner, token=TOKEN)
    async with client_for(app) as client:
        await log_in(client)
        page = await client.get("/")
        stats = await client.get("/api/stats")
        for text in (page.text, stats.text):
            assert "hunter2" not in text
        assert "db.internal" in page.text and "app:***@" in stats.json()["backend"]


async def test_schedules_show_the_next_run(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        await log_in(client)
        page = (await client.get("/schedules")).text
        row = re.search(r'<tr data-task="dash\.tick">.*?</tr>', page, re.S)
        assert row, page
        assert "reports" in row.group(0) and "every 5 minutes" in row.group(0)
        assert re.search(r"<time datetime=\"[0-9T:+.-]+\">", row.group(0))
        assert "dash.boom" not in page  # only tasks with a schedule


async def test_stats_json_feeds_the_chart(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        data = (await client.get("/api/stats", headers={"authorization": f"Bearer {TOKEN}"})).json()
        queue = data["queues"]["default"]
        assert queue["counts"]["failed"] == 1 and queue["counts"]["succeeded"] == 1
        assert queue["counts"]["scheduled"] == 1
        series = data["series"]
        assert len(series["minutes"]) == len(series["succeeded"]) == len(series["failed"]) == 60
        assert sum(series["succeeded"]) >= 1 and sum(series["failed"]) >= 1


async def test_the_job_list_pages_and_filters() -> None:
    runner = make_runner(None)
    seeded = await seed(runner)
    for n in range(55):
        await runner.tasks["dash.ok"].enqueue(n)
    app = dashboard(runner, token=TOKEN)
    async with client_for(app) as client:
        await log_in(client)
        first = (await client.get("/jobs")).text
        assert first.count('<tr data-job="') == 50
        older = re.search(r'<a class="more" href="([^"]+)"', first)
        assert older
        rest = (await client.get(older.group(1).replace("&amp;", "&"))).text
        assert rest.count('<tr data-job="') == 58 - 50
        failed = (await client.get("/jobs?state=failed")).text
        assert failed.count('<tr data-job="') == 1 and seeded.failed in failed
        bad = await client.get("/jobs?state=nonsense")
        assert bad.status_code == 400 and "unknown job state" in bad.text


async def test_mounted_under_a_prefix() -> None:
    runner = make_runner(None)
    seeded = await seed(runner)
    app = Starlette(routes=[Mount("/ops/jobs", app=dashboard(runner, token=TOKEN))])
    async with client_for(app) as client:
        first = await client.get("/ops/jobs/")
        assert first.headers["location"] == "/ops/jobs/login"
        login = await client.post(
            "/ops/jobs/login", data={"password": TOKEN}, headers={"origin": ORIGIN}
        )
        assert login.headers["location"] == "/ops/jobs/"
        assert "path=/ops/jobs" in login.headers["set-cookie"].lower()
        page = (await client.get(f"/ops/jobs/jobs/{seeded.failed}")).text
        assert 'href="/ops/jobs/static/dashboard.css"' in page
        assert f'action="/ops/jobs/jobs/{seeded.failed}/retry"' in page
        overview = (await client.get("/ops/jobs/")).text
        assert 'data-stats-url="/ops/jobs/api/stats"' in overview


SECRETS = ("hunter2-pw", "k-123-key", "tok-9-nested", "oauth-access-abc", "csrf-xyz")


def runner_with_secrets(url: str | None) -> TaskRunner:
    runner = make_runner(url)

    @runner.task(name="dash.login")
    async def login(user: str, password: str, *, api_key: str, options: dict[str, Any]) -> Any:
        return {"access_token": "oauth-access-abc", "total_tokens": 12, "user": user}

    return runner


async def test_arguments_named_like_secrets_are_masked(backend_url: str | None) -> None:
    runner = runner_with_secrets(backend_url)
    try:
        options = {"retries": 3, "headers": [{"X-CSRF-Token": "csrf-xyz", "page": 2}]}
        job = await runner.tasks["dash.login"].enqueue(
            "bob", "hunter2-pw", api_key="k-123-key", options={**options, "token": "tok-9-nested"}
        )
        await runner.worker(burst=True, queues=["default"]).run()
        app = dashboard(runner, token=TOKEN)
        bearer = {"authorization": f"Bearer {TOKEN}"}
        async with client_for(app) as client:
            await log_in(client)
            page = (await client.get(f"/jobs/{job.id}")).text
            one = (await client.get(f"/api/jobs/{job.id}", headers=bearer)).json()
            listed = (await client.get("/api/jobs", headers=bearer)).json()["jobs"]
        for text in (page, str(one), str(listed)):
            for secret in SECRETS:
                assert secret not in text
        assert one["args"] == ["bob", "***"]
        assert one["kwargs"] == {
            "api_key": "***",
            "options": {**options, "headers": [{"X-CSRF-Token": "***", "page": 2}], "token": "***"},
        }
        assert one["result"] == {"access_token": "***", "total_tokens": 12, "user": "bob"}
        [row] = [j for j in listed if j["id"] == job.id]
        assert (row["args"], row["kwargs"], row["result"]) == (
            one["args"],
            one["kwargs"],
            one["result"],
        )
        assert "&#34;bob&#34;" in page and "&#34;***&#34;" in page
        assert "&#34;total_tokens&#34;: 12" in page
    finally:
        await runner.close()


async def test_without_the_task_code_positional_values_are_masked() -> None:
    """The dashboard cannot tell which positional value is a password without the task's
    signature, so it shows none of them (and says why)."""
    producer = runner_with_secrets(None)
    job = await producer.tasks["dash.login"].enqueue(
        "bob", "hunter2-pw", api_key="k-123-key", options={"page": 2}
    )
    viewer = TaskRunner("memory://", backend=producer.backend)  # no task code loaded
    async with client_for(dashboard(viewer, token=TOKEN)) as client:
        await log_in(client)
        page = (await client.get(f"/jobs/{job.id}")).text
        data = (await client.get(f"/api/jobs/{job.id}")).json()
    assert "hunter2-pw" not in page and "k-123-key" not in page
    assert data["args"] == ["***", "***"]
    assert data["kwargs"] == {"api_key": "***", "options": {"page": 2}}
    assert "without this task's code" in page


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("passwd", True),
        ("token", True),
        ("access_token", True),
        ("csrfToken", True),
        ("secret", True),
        ("client_secret", True),
        ("api_key", True),
        ("apiKey", True),
        ("X-Api-Key", True),
        ("private_key", True),
        ("Authorization", True),
        ("credentials", True),
        ("user", False),
        ("max_tokens", False),
        ("total_tokens", False),
        ("tokenizer", False),
        ("key", False),
        ("author", False),
    ],
)
def test_which_names_count_as_secrets(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret
