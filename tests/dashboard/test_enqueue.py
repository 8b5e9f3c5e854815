"""`POST /api/jobs`: a job document in, a job id out, always behind a token (the dashboard's
own or `api_token`), and bad input refused with what is wrong, writing nothing; and the
same from `curl` against a served dashboard."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from taskrunner import ConfigurationError, JobState, TaskRunner
from taskrunner.dashboard.app import dashboard
from tests.dashboard.conftest import TOKEN, Seeded, client_for, log_in
from tests.helpers import free_port

API_TOKEN = "api-token-for-tests-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_a_job_document_is_enqueued_and_its_status_read(seeded: Seeded) -> None:
    runner = seeded.runner
    async with client_for(dashboard(runner, token=TOKEN)) as client:
        document = {"task": "dash.ok", "args": [4], "key": "http-1"}
        made = await client.post("/api/jobs", json=document, headers=bearer(TOKEN))
        assert made.status_code == 201, made.text
        job_id = made.json()["id"]
        assert made.json()["duplicate"] is False
        again = await client.post("/api/jobs", json=document, headers=bearer(TOKEN))
        assert again.status_code == 200 and again.json() == {"id": job_id, "duplicate": True}
        status = await client.get(f"/api/jobs/{job_id}", headers=bearer(TOKEN))
        assert status.json()["state"] == "queued" and status.json()["args"] == [4]
    await runner.worker(burst=True, queues=["default"]).run()
    assert (await runner.get_job(job_id)).result == {"double": 8}


async def test_bad_documents_are_refused_and_write_nothing(seeded: Seeded) -> None:
    runner = seeded.runner
    before = await runner.stats()
    async with client_for(dashboard(runner, token=TOKEN)) as client:
        for body, status, message in [
            (b"{nope", 400, "not JSON"),
            (b'{"task": "dash.nope"}', 400, "no task named 'dash.nope'"),
            (b'{"task": "dash.ok", "args": [1], "priorty": 1}', 400, "unknown field(s) priorty"),
            (b'{"task": "dash.ok", "args": []}', 400, "missing a required argument: 'n'"),
            (b'{"task": "dash.ok", "args": [1], "queue": "../x"}', 400, "queue"),
            (b'{"task": "dash.ok", "args": ["' + b"x" * 1_200_000 + b'"]}', 413, "too large"),
        ]:
            response = await client.post(
                "/api/jobs",
                content=body,
                headers={**bearer(TOKEN), "content-type": "application/json"},
            )
            assert response.status_code == status, response.text
            assert message in response.json()["error"]
    after = await runner.stats()
    assert {q: dict(s) for q, s in after.items()} == {q: dict(s) for q, s in before.items()}


async def test_only_a_token_opens_the_door(seeded: Seeded) -> None:
    runner = seeded.runner
    document = {"task": "dash.ok", "args": [1]}
    async with client_for(dashboard(runner)) as client:  # loopback, no auth: pages open
        assert (await client.get("/api/stats")).status_code == 200
        refused = await client.post("/api/jobs", json=document)
        assert refused.status_code == 403 and "needs a token" in refused.json()["error"]
    async with client_for(dashboard(runner, password=TOKEN)) as client:
        await log_in(client)  # a session cookie opens the pages, not this door
        refused = await client.post("/api/jobs", json=document)
        assert refused.status_code == 403
    app = dashboard(runner, password=TOKEN, api_token=API_TOKEN)
    async with client_for(app) as client:
        assert (await client.post("/api/jobs", json=document)).status_code == 401
        wrong = await client.post("/api/jobs", json=document, headers=bearer(TOKEN))
        assert wrong.status_code == 401 and wrong.json()["error"] == "wrong token"
        right = await client.post("/api/jobs", json=document, headers=bearer(API_TOKEN))
        assert right.status_code == 201
    with pytest.raises(ConfigurationError, match="16 characters"):
        dashboard(runner, api_token="short-token")


def test_curl_enqueues_on_a_served_dashboard(tmp_path: object) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from taskrunner.cli import main; main()", "dashboard",
         "tests.dashboard.apps:runner", "--port", str(port), "--api-token", API_TOKEN,
         "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, base)
        made = curl(base + "/api/jobs", "-X", "POST", "-H", f"Authorization: Bearer {API_TOKEN}",
                    "-H", "Content-Type: application/json",
                    "--data", json.dumps({"task": "dash.ok", "args": [5]}))  # fmt: skip
        job_id = json.loads(made)["id"]
        status = json.loads(curl(f"{base}/api/jobs/{job_id}"))
        assert status["state"] == JobState.QUEUED.value and status["args"] == [5]
        refused = curl(base + "/api/jobs", "-X", "POST", "--data", "{}", "-w", "%{http_code}")
        assert refused.endswith("401")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def curl(*args: str) -> str:
    done = subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_until_serving(proc: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 120  # a loaded machine takes a while to start a process
    while True:
        try:
            httpx.get(base + "/api/stats", timeout=30)
            return
        except (httpx.ConnectError, httpx.TimeoutException):
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.1)


__all__ = ["TaskRunner"]


async def test_a_task_the_app_lacks_comes_from_the_registry() -> None:
    from taskrunner.memory import MemoryBackend

    shared = MemoryBackend()
    workers = TaskRunner("memory://", backend=shared)

    @workers.task(name="far.away", queue="far")
    async def far(n: int) -> int:
        return n

    await workers.worker(burst=True).run()  # publishes its tasks
    bare = TaskRunner("memory://", backend=shared)  # a dashboard without the task code
    async with client_for(dashboard(bare, token=TOKEN)) as client:
        made = await client.post(
            "/api/jobs", json={"task": "far.away", "args": [3]}, headers=bearer(TOKEN)
        )
        assert made.status_code == 201, made.text
        wrong = await client.post(
            "/api/jobs", json={"task": "far.away", "args": []}, headers=bearer(TOKEN)
        )
        assert "missing a required argument: 'n'" in wrong.json()["error"]
    assert (await workers.get_job(made.json()["id"])).queue == "far"
