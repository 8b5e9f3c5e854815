"""examples/worker_dyno: both Procfile lines run as processes against the real Redis."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx

from tests.examples.conftest import (
    REDIS_URL,
    REPO,
    free_port,
    procfile,
    shell_env,
    spawn,
    until_serving,
)

DYNO = REPO / "examples" / "worker_dyno"


def test_the_procfile_declares_a_web_and_a_worker_process() -> None:
    kinds = procfile(DYNO)
    assert set(kinds) == {"web", "worker"}
    assert kinds["worker"].startswith("taskrunner run app:runner")
    # the module docstring's commands are the Procfile's, run with `uv run`
    from examples.worker_dyno import app

    assert app.__doc__ is not None
    documented = [line.strip() for line in app.__doc__.splitlines()]
    assert f"uv run {kinds['worker']}" in documented
    assert f"uv run {kinds['web'].replace('$PORT', '8000')}" in documented


async def test_web_and_worker_processes_share_redis(redis_prefix: str, tmp_path: Path) -> None:
    port = free_port()
    env = shell_env(
        TASKRUNNER_URL=f"{REDIS_URL}?prefix={redis_prefix}",
        REDIS_URL=REDIS_URL,
        APP_KEY_PREFIX=f"{redis_prefix}-app",
        REPORT_EVERY="1",
        PORT=str(port),
    )
    kinds = procfile(DYNO)
    with (
        spawn(kinds["worker"], DYNO, env, tmp_path / "worker.log") as worker,
        spawn(kinds["web"], DYNO, env, tmp_path / "web.log") as web,
    ):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await until_serving(client, "/queue", web, tmp_path / "web.log")

            jobs = []
            for page in ["/pricing", "/pricing", "/docs"]:
                answer = await client.post("/views", params={"page": page})
                assert answer.status_code == 202
                jobs.append(answer.json()["job"])

            async with asyncio.timeout(20):
                for job in jobs:
                    while (await client.get(f"/jobs/{job}")).json()["state"] != "succeeded":
                        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                        await asyncio.sleep(0.05)
                # the recurring job ticks every second and publishes what the worker stored
                while True:
                    report = await client.get("/report")
                    if report.status_code == 200 and report.json()["views"] == {
                        "/docs": 1,
                        "/pricing": 2,
                    }:
                        break
                    await asyncio.sleep(0.1)
            queue = (await client.get("/queue")).json()
            assert queue["default"]["succeeded"] >= 4  # three views and at least one report
            assert queue["default"].get("running", 0) <= 1

        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0  # a clean drain exits 0
        web.send_signal(signal.SIGTERM)
        await asyncio.to_thread(web.wait, 30)
    log = (tmp_path / "worker.log").read_text()
    assert "SIGTERM received: no new jobs" in log
    assert "stopped: " in log and "0 put back" in log
