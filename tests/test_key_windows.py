"""Dedup windows, `.options(key=..., key_ttl=...)`: through a runner on every backend, the
validation of `key_ttl`, and `taskrunner enqueue --key-ttl`. The backend rules are in the
conformance suite (taskrunner/testing/conformance/windows.py)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from taskrunner import ConfigurationError, JobState, TaskRunner
from taskrunner.cli import app
from taskrunner.retry import MAX_SECONDS


@pytest.fixture
def runner(each_backend_runner: TaskRunner) -> TaskRunner:
    return each_backend_runner


async def test_one_refresh_per_window_after_the_job_ran(runner: TaskRunner) -> None:
    ran = anyio.Event()

    @runner.task(retries=0, result_ttl=0.05)  # the window outlives the job's record
    async def refresh(feed: int) -> int:
        ran.set()
        return feed

    first = await refresh.options(key="feed:42", key_ttl=60).enqueue(42)
    assert not first.duplicate
    async with runner.worker(concurrency=1):
        # not `first.result()`: on a loaded machine the record may be gone before it reads
        with anyio.fail_after(30):
            await ran.wait()
    # the worker's exit waited for the job and reported it
    again = await refresh.options(key="feed:42", key_ttl=timedelta(minutes=1)).enqueue(42)
    assert again.duplicate and again.id == first.id
    other = await refresh.options(key="feed:43", key_ttl=60).enqueue(43)
    assert not other.duplicate
    assert (await runner.get_job(other.id)).state is JobState.QUEUED


@pytest.mark.parametrize(
    "options",
    [
        {"key": "k", "key_ttl": 0},
        {"key": "k", "key_ttl": -1},
        {"key": "k", "key_ttl": math.nan},
        {"key": "k", "key_ttl": math.inf},
        {"key": "k", "key_ttl": MAX_SECONDS + 1},
        {"key": "k", "key_ttl": "60"},
        {"key": "k", "key_ttl": True},
        {"key_ttl": 60},  # no key
    ],
)
def test_bad_key_ttls_are_refused(options: dict[str, Any]) -> None:
    runner = TaskRunner("memory://")

    @runner.task()
    async def noop() -> None:
        return None

    with pytest.raises(ConfigurationError, match="key_ttl"):
        noop.options(**options)


def test_key_ttl_travels_to_the_new_job() -> None:
    runner = TaskRunner("memory://")

    @runner.task()
    async def noop() -> None:
        return None

    assert noop.options(key="k", key_ttl=MAX_SECONDS).prepare().new.key_ttl == MAX_SECONDS
    assert noop.options(key="k").options(key_ttl=1.5).prepare().new.key_ttl == 1.5
    assert noop.options(key="k").prepare().new.key_ttl is None


def test_cli_enqueue_with_a_key_ttl() -> None:
    cli = CliRunner()
    url = "memory://"  # each command runs in its own process state: only the checks here
    out = cli.invoke(app, ["enqueue", "t.x", "[]", "--url", url, "--key-ttl", "60s"])
    assert out.exit_code == 2 and "--key-ttl needs a dedup key" in out.output
    out = cli.invoke(app, ["enqueue", "t.x", "[]", "--url", url, "--key", "k", "--key-ttl", "0"])
    assert out.exit_code == 2 and "--key-ttl" in out.output
    given = ["--app", "tests.apps.ops:runner", "--url", url, "--key", "k", "--key-ttl", "1m"]
    out = cli.invoke(app, ["enqueue", "ops.fetch", '["u"]', *given])
    assert out.exit_code == 0, out.output
