"""Each example runs with the command its module docstring gives (`uv run ...`, from the
repository root), the way a new user first tries it."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.examples.conftest import REPO, free_port, shell_env, spawn, without_uv_run


def documented_commands(path: str) -> list[str]:
    """The `uv run ...` commands of a module's docstring (indented, or after a colon)."""
    source = (REPO / path).read_text()
    docstring = source.split('"""')[1]
    return re.findall(r"(?:^ {4}|:  )(uv run .+?)\s*$", docstring, re.M)


@pytest.mark.parametrize(
    ("path", "page"), [("examples/rss_reader.py", "/"), ("examples/thumbnails.py", "/docs")]
)
async def test_web_examples_serve_with_their_documented_command(
    path: str, page: str, tmp_path: Path
) -> None:
    (command,) = documented_commands(path)
    assert command.startswith("uv run uvicorn examples.")
    port = free_port()
    log = tmp_path / "server.log"
    env = shell_env(THUMBNAIL_DIR=str(tmp_path))
    with spawn(f"{without_uv_run(command)} --port {port}", REPO, env, log) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(20):
                while True:
                    assert server.poll() is None, log.read_text()
                    try:
                        answer = await client.get(page)
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
        assert answer.status_code == 200
        server.send_signal(signal.SIGTERM)
        # uvicorn finishes the lifespan (so the worker stops), then re-raises the signal
        code = await asyncio.to_thread(server.wait, 30)
        assert code in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()


async def test_the_quickstart_runs_with_its_documented_command() -> None:
    (command,) = documented_commands("examples/quickstart.py")
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", without_uv_run(command)],
        cwd=REPO,
        env=shell_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "call_flaky_api returned" in done.stdout
    assert "flaky job: state=succeeded, attempts=3/4" in done.stdout
