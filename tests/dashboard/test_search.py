"""Search: by id prefix, task, queue, state and argument text, combined, on every backend."""

from __future__ import annotations

import re

import httpx
import pytest

from taskrunner.dashboard import dashboard, search
from tests.dashboard.conftest import TOKEN, Seeded, client_for, log_in
from tests.dashboard.test_pages import runner_with_secrets

BEARER = {"authorization": f"Bearer {TOKEN}"}


def listed(page: str) -> list[str]:
    return re.findall(r'<tr data-job="([^"]+)"', page)


async def api_ids(client: httpx.AsyncClient, **query: str) -> list[str]:
    response = await client.get("/api/jobs", params=query, headers=BEARER)
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["jobs"]]


async def test_filters_combine(seeded: Seeded) -> None:
    runner = seeded.runner
    ok = runner.tasks["dash.ok"]
    mail = await ok.options(queue="mail").enqueue(7)
    needle = await ok.enqueue(424242)
    async with client_for(dashboard(runner, token=TOKEN)) as client:
        await log_in(client)
        assert set(await api_ids(client, task="dash.ok")) == {
            seeded.succeeded, seeded.delayed, mail.id, needle.id
        }  # fmt: skip
        assert await api_ids(client, task="dash.ok", queue="mail") == [mail.id]
        assert await api_ids(client, task="dash.ok", state="succeeded") == [seeded.succeeded]
        assert await api_ids(client, task="dash.boom", state="succeeded") == []
        assert await api_ids(client, text="424242") == [needle.id]
        assert await api_ids(client, text="424242", queue="mail") == []
        assert await api_ids(client, text="<IMG SRC") == [seeded.failed]  # any case
        page = (await client.get("/jobs", params={"task": "dash.ok", "text": "7"})).text
        assert mail.id in listed(page) and needle.id not in listed(page)
        assert 'name="text" value="7"' in page
        assert '<option value="dash.boom">' in page  # the task names to pick from


async def test_by_id_prefix(seeded: Seeded) -> None:
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        await log_in(client)
        for job_id in (seeded.failed, seeded.succeeded, seeded.delayed):
            prefix = job_id[:-6]
            expected = [j for j in (seeded.delayed, seeded.succeeded, seeded.failed)
                        if j.startswith(prefix)]  # fmt: skip
            assert await api_ids(client, id=prefix) == expected
            assert await api_ids(client, id=prefix.upper()) == expected
            assert await api_ids(client, id=prefix.replace("-", "")) == expected
            assert await api_ids(client, id=prefix, state="failed") == [
                j for j in expected if j == seeded.failed
            ]
        assert await api_ids(client, id="ffffffff") == []
        assert await api_ids(client, id="1") == []  # ids of today start with 0
        everything = await api_ids(client, id=seeded.failed[:4])
        assert set(everything) == {seeded.failed, seeded.succeeded, seeded.delayed}
        bad = await client.get("/jobs", params={"id": "zz<b>"})
        assert bad.status_code == 400 and "not the start of a job id" in bad.text
        assert "<b>" not in bad.text
        for odd in ("-", "0" * 33):
            assert (
                await client.get("/api/jobs", params={"id": odd}, headers=BEARER)
            ).status_code == 400
        box = await client.get("/search", params={"id": seeded.failed[:8].upper()})
        assert box.status_code == 303
        assert box.headers["location"] == f"/jobs?id={seeded.failed[:8]}"


async def test_argument_text_never_finds_a_masked_secret(backend_url: str | None) -> None:
    runner = runner_with_secrets(backend_url)
    try:
        job = await runner.tasks["dash.login"].enqueue(
            "bob", "hunter2-pw", api_key="k-123-key", options={}
        )
        async with client_for(dashboard(runner, token=TOKEN)) as client:
            assert await api_ids(client, text="bob") == [job.id]
            assert await api_ids(client, text="hunter2") == []
            assert await api_ids(client, text="k-123") == []
            long = await client.get("/api/jobs", params={"text": "x" * 201}, headers=BEARER)
            assert long.status_code == 400 and "200 characters" in long.json()["error"]
    finally:
        await runner.close()


async def test_a_text_search_says_how_far_it_looked(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "SCAN_PAGE", 2)
    monkeypatch.setattr(search, "SCAN_LIMIT", 4)
    ok = seeded.runner.tasks["dash.ok"]
    old = await ok.enqueue(987654)
    for n in range(5):
        await ok.enqueue(n)
    async with client_for(dashboard(seeded.runner, token=TOKEN)) as client:
        await log_in(client)
        first = (await client.get("/jobs", params={"text": "987654"})).text
        assert listed(first) == []
        assert "it looked at the 4 newest jobs" in first
        more = re.search(r'<a class="more" href="([^"]+)">look further', first)
        assert more, first
        rest = (await client.get(more.group(1).replace("&amp;", "&"))).text
        assert listed(rest) == [old.id]
