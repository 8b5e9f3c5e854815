"""examples/sqlite_dyno: both Procfile lines run as processes on one SQLite file, with no
server (the README's two-process setup), and `taskrunner stats` reads the same file."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

import httpx

from tests.examples.conftest import REPO, free_port, procfile, shell_env, spawn, until_serving

DYNO = REPO / "examples" / "sqlite_dyno"
EMAILS = ["ada@example.com", "grace@example.com", "ada@example.com"]


def test_the_procfile_and_the_readme_show_the_same_processes() -> None:
    kinds = procfile(DYNO)
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


async def welcomed(client: httpx.AsyncClient) -> list[str]:
    """The signups listed once every one is welcomed (at most 60 s)."""
    async with asyncio.timeout(60):
        while True:
            signups = (await client.get("/signups")).json()
            if all(signup["welcomed_at"] is not None for signup in signups):
                return [signup["email"] for signup in signups]
            await asyncio.sleep(0.05)


async def test_web_and_worker_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    port = free_port()
    env = shell_env(DATABASE=str(tmp_path / "app.db"), PORT=str(port))
    kinds, web_log = procfile(DYNO), tmp_path / "web.log"
    with (
        spawn(kinds["web"], DYNO, env, web_log) as web,
        spawn(kinds["worker"], DYNO, env, tmp_path / "worker.log") as worker,
    ):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await until_serving(client, "/signups", web, web_log)).json() == []
            jobs = []
            for email in EMAILS:
                answer = await client.post("/signups", params={"email": email})
                assert answer.status_code == 202, answer.text
                jobs.append(answer.json()["job"])
            assert jobs[0] == jobs[2]  # the same signup twice: one welcome job (its key)
            assert await welcomed(client) == EMAILS[:2]
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0  # a clean drain exits 0
        web.send_signal(signal.SIGTERM)
        await asyncio.to_thread(web.wait, 30)
    assert "SIGTERM received: no new jobs" in (tmp_path / "worker.log").read_text()
    stats = await asyncio.to_thread(
        subprocess.run,
        ["taskrunner", "stats", "app:runner", "--json"],
        cwd=DYNO, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    counts = json.loads(stats.stdout)["queues"]["default"]["counts"]
    assert {state: n for state, n in counts.items() if n} == {"succeeded": 2}
