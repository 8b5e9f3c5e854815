"""What an operator watches: `taskrunner jobs` at 80 columns (and `--wide`), `stats --watch`,
and the exit status of `stats --check` that a monitor relies on (0 holds, 1 crossed, 2 usage
error, 3 backend unreachable), on every backend."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskrunner import TaskRunner
from taskrunner.cli import app
from tests.helpers import free_port
from tests.test_cli import TIMEOUT
from tests.test_cli_ops import drained, environment_restored, run

__all__ = ["environment_restored"]  # the autouse fixture of these tests too

cli = CliRunner()
PASSWORD = "s3cret-pa55"
LONG_TASK = "ops.fetch_every_feed_of_every_customer_again"


@pytest.fixture
def listed(shared_url: str) -> list[str]:
    """A failed job, a succeeded one and one due in an hour, of a task with a long name."""

    async def seed(runner: TaskRunner) -> list[str]:
        @runner.task(name=LONG_TASK, retries=0, queue="feeds")
        async def fetch_again(url: str) -> int:
            if "broken" in url:
                raise ValueError(f"cannot parse {url}")
            return len(url)

        ok = await fetch_again.enqueue("https://example.com/rss")
        bad = await fetch_again.enqueue("https://broken.example/rss")
        await drained(runner)
        later = await fetch_again.options(delay=3600).enqueue("https://later.example/rss")
        return [later.id, bad.id, ok.id]

    return run(shared_url, seed)


def test_jobs_fit_80_columns_with_short_ids(shared_url: str, listed: list[str]) -> None:
    out = cli.invoke(app, ["jobs", "--url", shared_url], terminal_width=80)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if any(job_id[-12:] in line for job_id in listed)]
    assert [row.split()[0] for row in rows] == [job_id[-12:] for job_id in listed]
    assert not any(job_id in out.stdout for job_id in listed)  # whole ids with --wide
    assert "scheduled" in rows[0] and "failed" in rows[1] and "succeeded" in rows[2]
    assert "ops.fetch_every_feed" in rows[0]  # a long name is cut, not wrapped
    assert "cannot parse" not in out.stdout  # errors with --wide
    assert "--wide" in out.stdout
    short = cli.invoke(app, ["job", listed[0][-12:], "--url", shared_url])
    assert short.exit_code == 1 and "commands need whole ids: `jobs --wide`" in short.stderr


def test_jobs_wide_shows_every_column(shared_url: str, listed: list[str]) -> None:
    out = cli.invoke(app, ["jobs", "--url", shared_url, "--wide"])
    assert out.exit_code == 0, out.output
    assert all(job_id in out.stdout for job_id in listed)
    assert LONG_TASK in out.stdout and "ValueError: cannot parse" in out.stdout
    assert "finished" in out.stdout and "enqueued" in out.stdout


def test_stats_watch_refreshes(shared_url: str, listed: list[str]) -> None:
    args = ["stats", "--url", shared_url, "--watch", "--interval", "0.1", "--count", "3"]
    out = cli.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert out.stdout.count("taskrunner stats ") == 3  # three views, each with its header
    assert out.stdout.count("feeds") >= 3


def test_stats_watch_redraws_in_place_on_a_terminal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    command = [sys.executable, "-m", "taskrunner", "stats", "--url", url, "--watch"]
    leader, follower = pty.openpty()
    env = os.environ | {"TERM": "xterm", "COLUMNS": "100", "LINES": "40"}
    proc = subprocess.Popen(
        [*command, "--interval", "0.1", "--count", "3"],
        stdin=follower, stdout=follower, stderr=follower, env=env, cwd=tmp_path,
    )  # fmt: skip
    os.close(follower)
    screen = b""
    with suppress(OSError):  # the end of the terminal's output
        while chunk := os.read(leader, 65536):
            screen += chunk
    os.close(leader)
    assert proc.wait(TIMEOUT) == 0, screen.decode(errors="replace")
    assert screen.count(b"taskrunner stats ") >= 3  # three views (and the last, left on exit)
    assert b"\x1b[2K" in screen  # a view erases the last one's lines: drawn in place


def test_stats_watch_refuses_check_and_json(shared_url: str) -> None:
    for extra in (["--check", "--max-queued", "1"], ["--json"]):
        out = cli.invoke(app, ["stats", "--url", shared_url, "--watch", *extra])
        assert out.exit_code == 2 and "--watch shows tables" in out.stderr
    alone = cli.invoke(app, ["stats", "--url", shared_url, "--count", "2"])
    assert alone.exit_code == 2 and "--count goes with --watch" in alone.stderr


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_check_holds_and_crosses_on_local_backends(url: str, tmp_path: object) -> None:
    target = url if url == "memory://" else f"sqlite:///{tmp_path}/jobs.db"
    holds = cli.invoke(app, ["stats", "--url", target, "--check", "--max-queued", "0"])
    assert holds.exit_code == 0 and "check passed" in holds.stderr
    if url == "memory://":
        return  # a memory backend lives in one process: nothing to cross from here

    async def enqueue(runner: TaskRunner) -> None:
        await runner.tasks["ops.fetch"].enqueue("https://example.com/rss")

    run(target, enqueue)
    crossed = cli.invoke(app, ["stats", "--url", target, "--check", "--max-queued", "0"])
    assert crossed.exit_code == 1 and "CHECK FAILED: queue feeds: 1 jobs queued" in crossed.stderr


def test_check_exit_codes_on_shared_backends(shared_url: str, listed: list[str]) -> None:
    check = ["stats", "--url", shared_url, "--check"]
    assert cli.invoke(app, [*check, "--max-queued", "5"]).exit_code == 0
    crossed = cli.invoke(app, [*check, "--max-failure-rate", "0.1"])
    assert crossed.exit_code == 1 and "CHECK FAILED" in crossed.stderr
    usage = cli.invoke(app, check)
    assert usage.exit_code == 2 and "--check needs a threshold" in usage.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--check"], "--check needs a threshold"),
        (["--max-queued", "3"], "need --check"),
        (["--check", "--max-age", "soon"], "cannot read 'soon' as a duration"),
        (["--check", "--max-failure-rate", "2"], "Invalid value"),
        (["--check", "--max-queued", "1", "--window", "2h"], "window must be from 1 to 3600"),
        (["--check", "--max-queued", "1", "--no-such-option"], "No such option"),
    ],
)
def test_check_usage_errors_exit_2(args: list[str], message: str) -> None:
    out = cli.invoke(app, ["stats", "--url", "memory://", *args])
    assert out.exit_code == 2 and message in out.output, out.output


@pytest.mark.parametrize("scheme", ["redis", "postgresql"])
def test_check_exits_3_when_the_backend_cannot_be_reached(scheme: str) -> None:
    url = f"{scheme}://worker:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there
    out = cli.invoke(app, ["stats", "--url", url, "--check", "--max-queued", "1"])
    assert out.exit_code == 3, out.output
    assert out.stderr.startswith("error: ") and PASSWORD not in out.output
    assert "127.0.0.1" in out.stderr


def test_stats_help_gives_the_exit_statuses() -> None:
    shown = " ".join(cli.invoke(app, ["stats", "-h"], terminal_width=200).stdout.split())
    assert "Exit status: 0 done (--check: every threshold holds), 1 a --check threshold" in shown
    assert "2 a usage error (--check without a threshold is one), 3 the backend cannot" in shown
