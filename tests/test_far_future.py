"""Far-future due times: one ten-year cap on every way in, before anything is written, and
reads (API, CLI) that show a stored time beyond the year 9999 instead of failing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from io import StringIO

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from taskrunner import ConfigurationError, JobState, Retry, TaskRunner, every
from taskrunner._present import job_dict
from taskrunner.cli import app
from taskrunner.cli.render import jobs_table, print_job
from taskrunner.memory import MemoryBackend
from taskrunner.retry import MAX_SECONDS, Backoff
from taskrunner.testing import new_job
from taskrunner.testing.conformance.helpers import BEYOND_YEAR_9999

ELEVEN_YEARS = timedelta(days=11 * 365)
LAST_MOMENT = datetime.max.replace(tzinfo=UTC)


def far_due_times() -> list[datetime]:
    return [
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),  # year 10000 UTC
        datetime.now(UTC) + ELEVEN_YEARS,
    ]


async def test_enqueue_refuses_a_due_time_over_ten_years_ahead() -> None:
    runner = TaskRunner("memory://", backend=MemoryBackend())

    @runner.task
    async def later() -> None: ...

    for at in far_due_times():
        with pytest.raises(ConfigurationError, match="at most ten years from now"):
            later.options(at=at)
    for delay in (ELEVEN_YEARS, ELEVEN_YEARS.total_seconds()):
        with pytest.raises(ConfigurationError, match="ten years"):
            later.options(delay=delay)
    assert await runner.stats() == {}  # nothing was written
    in_nine_years = datetime.now(UTC) + timedelta(days=9 * 365)
    job = await later.options(at=in_nine_years).enqueue()
    assert abs((await job.info()).run_at - in_nine_years) < timedelta(milliseconds=1)


def test_schedules_retries_and_backoff_share_the_cap() -> None:
    with pytest.raises(ConfigurationError, match="ten years"):
        every(days=11 * 365)
    with pytest.raises(ConfigurationError, match="ten years"):
        Retry(delay=ELEVEN_YEARS)
    assert Backoff(base=1, factor=10, max_delay=1e15, jitter=False).delay(20) == MAX_SECONDS
    with pytest.raises(ConfigurationError, match="Backoff needs"):
        Backoff(base=float("nan"))


async def test_a_stored_time_beyond_the_year_9999_renders() -> None:
    backend = MemoryBackend()
    runner = TaskRunner("memory://", backend=backend)
    job = new_job(at=BEYOND_YEAR_9999)
    await backend.enqueue([job])  # as plain SQL or a version without the cap could store it
    info = await runner.get_job(job.id)
    assert (info.state, info.run_at) == (JobState.SCHEDULED, LAST_MOMENT)
    (listed,) = (await runner.list_jobs()).jobs
    assert listed.run_at == LAST_MOMENT
    assert job_dict(info)["run_at"] == LAST_MOMENT.isoformat()
    console = Console(file=StringIO(), width=200)
    print_job(console, info)
    console.print(jobs_table([info]))
    assert "due 9999-12-31 23:59:59" in console.file.getvalue()  # type: ignore[attr-defined]


def test_the_cli_refuses_a_delay_over_ten_years(shared_url: str) -> None:
    result = CliRunner().invoke(
        app, ["enqueue", "far.task", "[]", "--url", shared_url, "--delay", "99999999d"]
    )
    assert result.exit_code == 2
    assert result.output == "error: --delay 99999999d is too long: at most ten years (3650d)\n"
    listed = CliRunner().invoke(app, ["jobs", "--url", shared_url, "--json"])
    assert listed.exit_code == 0 and orjson.loads(listed.output)["jobs"] == []


def test_the_cli_shows_a_stored_time_beyond_the_year_9999(shared_url: str) -> None:
    job = new_job(at=BEYOND_YEAR_9999)

    async def store() -> None:
        async with TaskRunner(shared_url) as runner:
            await runner.backend.enqueue([job])

    asyncio.run(store())
    cli = CliRunner()
    for command in (["jobs"], ["jobs", "--json"], ["job", job.id], ["job", job.id, "--json"]):
        result = cli.invoke(app, [*command, "--url", shared_url])
        assert result.exit_code == 0, result.output
    shown = cli.invoke(app, ["job", job.id, "--url", shared_url, "--json"]).output
    assert orjson.loads(shown)["run_at"] == LAST_MOMENT.isoformat()  # not 1970 (Redis)
