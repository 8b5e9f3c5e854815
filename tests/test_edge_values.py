"""Edge values (huge or zero durations, NaN, lone surrogates) get a clear error before
anything is written: one line and exit 2 (or 1) on the command line, never a traceback."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from taskrunner import (
    ConfigurationError,
    InvalidName,
    JobState,
    SerializationError,
    TaskRunner,
)
from taskrunner.cli import app
from taskrunner.memory import MemoryBackend
from taskrunner.worker import WorkerSettings

LONE_SURROGATE = "feed:\udc80"  # what undecodable bytes in argv or a header turn into


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_one_line_error(result: Result, *expected: str) -> None:
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.output.splitlines()
    assert line.startswith("error: ")
    for text in expected:
        assert text in line


def seed_activity(url: str) -> None:
    async def seed() -> None:
        runner = TaskRunner(url)

        @runner.task(name="edge.ok")
        async def ok() -> None: ...

        try:
            await ok.enqueue()
            await runner.worker(burst=True).run()
        finally:
            await runner.close()

    asyncio.run(seed())


def stored_jobs(url: str) -> list[Any]:
    result = invoke("jobs", "--url", url, "--json")
    assert result.exit_code == 0, result.output
    jobs: list[Any] = orjson.loads(result.output)["jobs"]
    return jobs


def test_every_duration_option_refuses_edge_values(shared_url: str) -> None:
    seed_activity(shared_url)  # stats over a window of 0 divided by it
    huge = "99999999999999999999d"
    url = ("--url", shared_url)
    for args, option in (
        (("jobs", "--since", huge), "--since"),
        (("purge", "--state", "failed", "--older-than", huge), "--older-than"),
        (("stats", "--window", huge), "--window"),
        (("stats", "--check", "--max-age", huge), "--max-age"),
        (("enqueue", "edge.ok", "--delay", huge), "--delay"),
    ):
        assert_one_line_error(invoke(*args, *url), option, "at most ten years")
    for window in ("0", "0s", "0.0m"):
        assert_one_line_error(invoke("stats", "--window", window, *url), "--window", "than 0")
    assert_one_line_error(invoke("jobs", "--since", "soon", *url), "--since", "cannot read")
    assert len(stored_jobs(shared_url)) == 1  # only the seeded job


def test_a_dedup_key_with_a_lone_surrogate_is_refused_on_the_cli(shared_url: str) -> None:
    result = invoke("enqueue", "edge.ok", "--key", LONE_SURROGATE, "--url", shared_url)
    assert_one_line_error(result, "dedup key", "not valid Unicode")
    assert stored_jobs(shared_url) == []


def test_worker_numbers_that_are_not_finite_or_too_large_are_refused() -> None:
    app_path = "tests.apps.misc:runner"
    for option, value, message in (
        ("--lease", "inf", "lease must be"),
        ("--grace", "1e300", "grace must be"),
        ("--concurrency", "99999999999999999999", "concurrency must be"),
    ):
        assert_one_line_error(invoke("run", app_path, "--burst", option, value), message)
    settings: list[dict[str, Any]] = [
        {"lease": math.nan},
        {"poll": math.inf},
        {"reclaim_interval": -1.0},
    ]
    for given in settings:
        with pytest.raises(ConfigurationError, match="must be a number of seconds"):
            WorkerSettings(**given)


async def test_stats_and_purge_refuse_windows_and_ages_out_of_range() -> None:
    runner = TaskRunner("memory://", backend=MemoryBackend())

    @runner.task
    async def ok() -> None: ...

    await ok.enqueue()
    await runner.worker(burst=True).run()
    for window in (0, -1, math.nan, 1e300):
        with pytest.raises(ConfigurationError, match="window"):
            await runner.stats(window=window)
    with pytest.raises(ConfigurationError, match="older_than"):
        await runner.purge([JobState.SUCCEEDED], older_than=1e300)


async def test_non_finite_arguments_are_refused_naming_where_they_are() -> None:
    runner = TaskRunner("memory://", backend=MemoryBackend())

    @runner.task
    async def record(*values: Any, **named: Any) -> None: ...

    for args, kwargs, path in (
        ((math.nan,), {}, "args[0] is nan"),
        ((None, [1.0, math.inf]), {}, "args[1][1] is inf"),
        ((), {"point": {"x": None, "y": [-math.inf]}}, "kwargs['point']['y'][0] is -inf"),
    ):
        with pytest.raises(SerializationError, match=path.replace("[", r"\[")):
            await record.enqueue(*args, **kwargs)
    assert await runner.stats() == {}  # nothing was written
    job = await record.enqueue(None, 1.5, named=None)
    assert (await job.info()).args == [None, 1.5]


def test_a_dedup_key_with_a_lone_surrogate_is_refused() -> None:
    runner = TaskRunner("memory://", backend=MemoryBackend())

    @runner.task
    async def ok() -> None: ...

    with pytest.raises(InvalidName, match="not valid Unicode"):
        ok.options(key=LONE_SURROGATE)


def test_retention_and_timeouts_out_of_range_are_refused() -> None:
    for value in (math.nan, -1.0, 1e13):
        with pytest.raises(ConfigurationError, match="result_ttl"):
            TaskRunner("memory://", result_ttl=value)
        with pytest.raises(ConfigurationError, match="failed_ttl"):
            TaskRunner("memory://", failed_ttl=value)
    runner = TaskRunner("memory://", backend=MemoryBackend())
    for timeout in (math.nan, 1e13):
        with pytest.raises(ConfigurationError, match="timeout"):
            runner.task(name="edge.slow", timeout=timeout)(lambda: None)
    with pytest.raises(ConfigurationError, match="result_ttl"):
        runner.task(name="edge.kept", result_ttl=math.inf)(lambda: None)
