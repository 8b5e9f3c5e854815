"""examples/sqlite_dyno: both Procfile lines run as processes on one SQLite file, with no
server (the README's two-process setup)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx

from tests.examples.conftest import REPO, free_port, shell_env, spawn

DYNO = REPO / "examples" / "sqlite_dyno"
EMAILS = ["ada@example.com", "grace@example.com", "ada@example.com"]


def procfile() -> dict[str, str]:
    lines = (DYNO / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_the_procfile_and_the_readme_show_the_same_processes() -> None:
    kinds = procfile()
    assert set(kinds) == {"web", "worker"}
    from examples.sqlite_dyno import app

    assert app.__doc__ is not None
    assert repr(app.runner) == "TaskRunner('sqlite:///app.db')"  # the file beside the app
    documented = [line.strip() for line in app.__doc__.splitlines()]
    readme = (REPO / "README.md").read_text()
    for line in (f"uv run {kinds['worker']}", f"uv run {kinds['web'].replace('$PORT', '8000')}"):
        assert line in documented
        assert line in readme
    assert "cd examples/sqlite_dyno" in readme


async def test_web_and_worker_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    port = free_port()
    env = shell_env(DATABASE=str(tmp_path / "app.db"), PORT=str(port))
    kinds = procfile()
    with (
        spawn(kinds["web"], DYNO, env, tmp_path / "web.log") as web,
        spawn(kinds["worker"], DYNO, env, tmp_path / "worker.log") as worker,
    ):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(30):
                while True:
                    assert web.poll() is None, (tmp_path / "web.log").read_text()
                    try:
                        await client.get("/queue")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
            jobs = []
            for email in EMAILS:
                answer = await client.post("/signups", params={"email": email})
                assert answer.status_code == 202, answer.text
                jobs.append(answer.json()["job"])
            assert jobs[0] == jobs[2]  # the same signup twice: one welcome job (its key)
            async with asyncio.timeout(30):
                for job in jobs:
                    while (await client.get(f"/jobs/{job}")).json()["state"] != "succeeded":
                        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                        await asyncio.sleep(0.05)
            signups = (await client.get("/signups")).json()
            assert [s["email"] for s in signups] == EMAILS[:2]
            assert all(s["welcomed_at"] is not None for s in signups)
            assert (await client.get("/queue")).json() == {"default": {"succeeded": 2}}
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0  # a clean drain exits 0
        web.send_signal(signal.SIGTERM)
        await asyncio.to_thread(web.wait, 30)
    assert "SIGTERM received: no new jobs" in (tmp_path / "worker.log").read_text()
