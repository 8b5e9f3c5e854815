"""examples/node_client: a Node.js script (the npm `pg` package) enqueues through the Postgres
function `<schema>.enqueue(...)`, and a Python worker process runs the job. The test installs
the script's npm packages itself (`npm ci`, from the lockfile) when node_modules is missing,
so CI needs Node.js and the npm registry, nothing more."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from taskrunner import JobState, TaskRunner
from tests.examples.conftest import POSTGRES_URL, REPO, shell_env

NODE_CLIENT = REPO / "examples" / "node_client"
WORKER = ["taskrunner", "run", "app:runner", "--burst"]  # as app.py's docstring runs it


@pytest.fixture(scope="module")
def node_packages() -> Path:
    """The example's node_modules, installed from its lockfile if missing."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("the Node.js example needs node and npm (Node.js 18 or newer) on PATH")
    modules = NODE_CLIENT / "node_modules"
    if not (modules / "pg" / "package.json").is_file():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_CLIENT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"npm ci (from the npm registry) failed:\n{done.stderr}"
    return modules


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=NODE_CLIENT, env=env, capture_output=True, text=True, timeout=120
    )


async def job_of(url: str, job_id: str) -> tuple[JobState, object]:
    runner = TaskRunner(url)
    try:
        job = await runner.get_job(job_id)
    finally:
        await runner.close()
    return job.state, job.result


def test_a_node_script_enqueues_a_job_that_a_python_worker_runs(
    node_packages: Path, pg_schema: str
) -> None:
    url = f"{POSTGRES_URL}?schema={pg_schema}"
    env = shell_env(TASKRUNNER_URL=url, DATABASE_URL=POSTGRES_URL, TASKRUNNER_SCHEMA=pg_schema)
    started = run(WORKER, env)  # creates the schema and publishes the app's tasks
    assert started.returncode == 0, started.stderr

    enqueued = run(["node", "enqueue.js", "emails.welcome", "[42]", '{"locale": "fr"}'], env)
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = enqueued.stdout.strip()
    assert asyncio.run(job_of(url, job_id)) == (JobState.QUEUED, None)

    worked = run(WORKER, env)
    assert worked.returncode == 0, worked.stderr
    assert asyncio.run(job_of(url, job_id)) == (JobState.SUCCEEDED, "Bienvenue, user 42!")


def test_the_node_script_is_told_what_is_wrong(node_packages: Path, pg_schema: str) -> None:
    url = f"{POSTGRES_URL}?schema={pg_schema}"
    env = shell_env(TASKRUNNER_URL=url, DATABASE_URL=POSTGRES_URL, TASKRUNNER_SCHEMA=pg_schema)
    assert run(WORKER, env).returncode == 0
    refused = {
        ("emails.welcom", "[42]"): "no task named 'emails.welcom' is registered",
        ("emails.welcome", "[]"): "missing a required argument: 'user_id'",
        ("emails.welcome", '{"user_id": 42}'): "args must be a JSON array",
    }
    for (task, args), message in refused.items():
        done = run(["node", "enqueue.js", task, args], env)
        assert done.returncode == 1, done.stdout
        assert done.stderr.startswith("enqueue failed: ") and message in done.stderr, done.stderr
    keyed = [
        run(["node", "enqueue.js", "emails.welcome", "[7]", "--key", "welcome:7"], env)
        for _ in range(2)
    ]
    assert keyed[0].stdout.strip() == keyed[1].stdout.strip() != ""
