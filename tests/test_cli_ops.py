"""The operations commands (jobs, job, retry, cancel, purge, stats --check, enqueue) against
real Redis and Postgres: a shared backend is what they are for."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import orjson
import pytest
from typer.testing import CliRunner

from taskrunner import JobState, TaskRunner
from taskrunner.backend import Dependencies
from taskrunner.cli import app
from taskrunner.registry import publish
from tests.apps.ops import sign_in
from tests.helpers import require

T = TypeVar("T")
cli = CliRunner()


@pytest.fixture(autouse=True)
def environment_restored() -> Iterator[None]:
    """Loading an app with --url sets TASKRUNNER_URL (for the app's own runner): put back
    after each test, so that a later one sees the environment it started with."""
    before = os.environ.get("TASKRUNNER_URL")
    yield
    if before is None:
        os.environ.pop("TASKRUNNER_URL", None)
    else:
        os.environ["TASKRUNNER_URL"] = before


def run(url: str, work: Callable[[TaskRunner], Awaitable[T]]) -> T:
    """Seed or check the backend from the test with a runner of its own."""

    async def go() -> T:
        runner = make_runner(url)
        try:
            return await work(runner)
        finally:
            await runner.close()

    return asyncio.run(go())


def make_runner(url: str) -> TaskRunner:
    runner = TaskRunner(url)

    @runner.task(name="ops.fetch", retries=0, queue="feeds")
    async def fetch(url: str) -> int:
        if "broken" in url:
            raise ValueError(f"cannot parse {url}")
        return len(url)

    runner.task(name="ops.sign_in", queue="feeds")(sign_in)
    return runner


async def drained(runner: TaskRunner) -> None:
    await runner.worker(burst=True, queues=["feeds"]).run()


def invoke(*args: str) -> Any:
    return cli.invoke(app, list(args))


@pytest.fixture
def published(shared_url: str) -> None:
    """The app's tasks published to the backend's registry, as a worker publishes them when
    it starts: an enqueue by name without the app is checked against them."""

    async def publish_specs(runner: TaskRunner) -> None:
        await runner.connect()
        await publish(runner.backend, runner.tasks.values())

    run(shared_url, publish_specs)


@pytest.fixture
def seeded(shared_url: str) -> dict[str, str]:
    async def seed(runner: TaskRunner) -> dict[str, str]:
        fetch = runner.tasks["ops.fetch"]
        ok = await fetch.enqueue("https://example.com/rss")
        bad = await fetch.enqueue("https://broken.example/rss")
        await drained(runner)
        waiting = await fetch.options(delay=3600).enqueue("https://later.example/rss")
        return {"ok": ok.id, "bad": bad.id, "waiting": waiting.id}

    return run(shared_url, seed)


def test_jobs_lists_newest_first_and_filters(shared_url: str, seeded: dict[str, str]) -> None:
    out = invoke("jobs", "--url", shared_url, "--json")
    assert out.exit_code == 0, out.output
    listed = orjson.loads(out.output)["jobs"]
    assert [j["id"] for j in listed] == [seeded["waiting"], seeded["bad"], seeded["ok"]]
    failed = orjson.loads(
        invoke("jobs", "--url", shared_url, "--state", "failed", "--json").output
    )["jobs"]
    assert [j["id"] for j in failed] == [seeded["bad"]]
    assert failed[0]["error"]["type"] == "ValueError"
    table = invoke("jobs", "--url", shared_url, "--limit", "2", "--wide")
    assert table.exit_code == 0 and seeded["waiting"] in table.output
    assert f"--before {seeded['bad']}" in table.output


def test_job_shows_attempts_and_the_traceback(shared_url: str, seeded: dict[str, str]) -> None:
    out = invoke("job", seeded["bad"], "--url", shared_url)
    assert out.exit_code == 0, out.output
    assert "failed" in out.output and "cannot parse https://broken.example/rss" in out.output
    assert "Traceback" in out.output
    shown = ["job", seeded["ok"], "tests.apps.ops:runner", "--url", shared_url, "--json"]
    data = orjson.loads(invoke(*shown).output)
    assert (data["state"], data["result"], data["args"]) == (
        "succeeded",
        23,
        ["https://example.com/rss"],
    )
    assert [a["outcome"] for a in data["attempts"]] == ["succeeded"]
    missing = invoke("job", "no-such-job", "--url", shared_url)
    assert missing.exit_code == 1 and "no job with id 'no-such-job'" in missing.output


def test_retry_one_or_every_failed_job(shared_url: str, seeded: dict[str, str]) -> None:
    out = invoke("retry", seeded["bad"], "--url", shared_url)
    assert out.exit_code == 0 and "queued 1 job again" in out.output
    refused = invoke("retry", seeded["ok"], "--url", shared_url)
    assert refused.exit_code == 1 and "is succeeded" in refused.output
    run(shared_url, drained)
    again = invoke("retry", "--failed", "--yes", "--url", shared_url)
    assert again.stdout == "queued 1 job again\n"
    assert invoke("retry", "--url", shared_url).exit_code == 2


def test_cancel_and_purge(shared_url: str, seeded: dict[str, str]) -> None:
    out = invoke("cancel", seeded["waiting"], "--url", shared_url)
    assert out.exit_code == 0 and "cancelled" in out.output
    again = invoke("cancel", seeded["waiting"], "--url", shared_url)
    assert again.exit_code == 1 and "already cancelled" in again.output
    assert (
        "deleted 0 jobs"
        in invoke("purge", "--url", shared_url, "--state", "succeeded", "--older-than", "1d").output
    )
    out = invoke("purge", "--url", shared_url, "--state", "succeeded", "--state", "cancelled")
    assert out.exit_code == 0 and "deleted 2 jobs" in out.output
    bad = invoke("purge", "--url", shared_url, "--state", "done")
    assert bad.exit_code == 2 and "unknown job state 'done'" in bad.output


def test_stats_and_check_thresholds(shared_url: str, seeded: dict[str, str]) -> None:
    data = orjson.loads(invoke("stats", "--url", shared_url, "--json").output)
    feeds = data["queues"]["feeds"]
    assert feeds["counts"] == {
        "waiting": 0,
        "queued": 0,
        "scheduled": 1,
        "running": 0,
        "succeeded": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert feeds["failure_rate"] == 0.5
    table = invoke("stats", "--url", shared_url)
    assert table.exit_code == 0 and "feeds" in table.output
    calm = invoke("stats", "--url", shared_url, "--check", "--max-queued", "10")
    assert calm.exit_code == 0
    alarm = invoke("stats", "--url", shared_url, "--check", "--max-failure-rate", "0.2")
    assert alarm.exit_code == 1
    assert "CHECK FAILED: queue feeds: 50% of attempts failed" in alarm.output


def test_check_counts_only_its_window(shared_url: str, seeded: dict[str, str]) -> None:
    asyncio.run(asyncio.sleep(2.2))  # the seeded failure is now outside a 1 s window
    args = ("stats", "--url", shared_url, "--check", "--max-failure-rate", "0.2")
    short = invoke(*args, "--window", "1s")
    assert short.exit_code == 0 and "check passed" in short.output
    data = orjson.loads(invoke("stats", "--url", shared_url, "--window", "1s", "--json").output)
    feeds = data["queues"]["feeds"]
    assert (feeds["throughput_per_second"], feeds["failure_rate"]) == (0.0, None)
    assert feeds["window"] == 1 and 1 <= feeds["span"] < 2
    assert invoke(*args, "--window", "1m").exit_code == 1
    table = invoke("stats", "--url", shared_url, "--window", "5s")
    # the span is from 5 s to under 6 s, which one decimal may round up to 6.0
    assert re.search(r"last 5\.0s \(counted over (5\.\d|6\.0)s\)", table.output), table.output
    too_long = invoke(*args, "--window", "2h")
    assert too_long.exit_code == 2  # a usage error
    assert "window must be from 1 to 3600 seconds" in too_long.output


def test_check_catches_a_long_wait(shared_url: str) -> None:
    async def stale(runner: TaskRunner) -> None:
        await runner.tasks["ops.fetch"].enqueue("https://example.com/rss")
        await asyncio.sleep(1.2)

    run(shared_url, stale)
    out = invoke("stats", "--url", shared_url, "--check", "--max-age", "1s", "--max-queued", "0")
    assert out.exit_code == 1
    assert "a job has waited" in out.output and "1 jobs queued (most allowed 0)" in out.output


@pytest.mark.usefixtures("published")
def test_enqueue_by_name_without_the_task_code(shared_url: str) -> None:
    out = invoke(
        "enqueue",
        "ops.fetch",
        '["https://example.com/a"]',
        "--url",
        shared_url,
        "--queue",
        "feeds",
        "--key",
        "feed-a",
    )
    assert out.exit_code == 0, out.output
    job_id = out.stdout.strip()
    again = invoke(
        "enqueue",
        "ops.fetch",
        '["https://example.com/a"]',
        "--url",
        shared_url,
        "--queue",
        "feeds",
        "--key",
        "feed-a",
    )
    assert again.stdout.startswith(job_id) and "nothing new was enqueued" in again.output

    async def check(runner: TaskRunner) -> Any:
        await drained(runner)
        return await runner.get_job(job_id)

    info = run(shared_url, check)
    assert (info.state, info.result) == (JobState.SUCCEEDED, len("https://example.com/a"))
    for args, message in (("{oops", "not JSON"), ("42", "must be a JSON list")):
        bad = invoke("enqueue", "ops.fetch", args, "--url", shared_url)
        assert bad.exit_code == 2 and message in bad.output
    assert "task name" in invoke("enqueue", "bad name", "[]", "--url", shared_url).output


def test_commands_need_a_backend() -> None:
    out = invoke("jobs")
    assert out.exit_code == 2 and "no backend URL" in out.output


def test_pause_and_resume_a_queue(shared_url: str) -> None:
    async def enqueue_one(runner: TaskRunner) -> str:
        return (await runner.tasks["ops.fetch"].enqueue("https://example.com/rss")).id

    job_id = run(shared_url, enqueue_one)
    out = invoke("pause", "feeds", "--url", shared_url)
    assert (out.exit_code, out.output) == (0, "queue feeds paused\n")
    assert invoke("pause", "feeds", "--url", shared_url).exit_code == 0  # already: no error
    assert invoke("pause", "empty", "--url", shared_url).exit_code == 0  # no jobs yet
    run(shared_url, drained)  # a worker takes nothing from a paused queue
    assert run(shared_url, lambda r: r.get_job(job_id)).state is JobState.QUEUED
    data = orjson.loads(invoke("stats", "--url", shared_url, "--json").output)
    assert data["queues"]["feeds"]["paused"] and data["queues"]["empty"]["paused"]
    assert "feeds (paused)" in invoke("stats", "--url", shared_url).output
    out = invoke("resume", "feeds", "--url", shared_url)
    assert (out.exit_code, out.output) == (0, "queue feeds resumed\n")
    assert run(shared_url, lambda r: r.paused()) == ["empty"]
    run(shared_url, drained)
    assert run(shared_url, lambda r: r.get_job(job_id)).state is JobState.SUCCEEDED
    bad = invoke("pause", "no spaces", "--url", shared_url)
    assert bad.exit_code == 2 and "is not allowed" in bad.output


def test_job_and_jobs_mask_secrets_as_the_dashboard_does(shared_url: str) -> None:
    settings = {"region": "eu", "api_key": "k-123"}

    async def enqueue(runner: TaskRunner) -> str:
        task = runner.tasks["ops.sign_in"]
        return (await task.enqueue("ada", "hunter22", settings=settings)).id

    job_id = run(shared_url, enqueue)
    with_app = ["tests.apps.ops:runner", "--url", shared_url]
    data = orjson.loads(invoke("job", job_id, *with_app, "--json").output)
    assert data["args"] == ["ada", "***"]  # the app names the positional arguments
    assert data["kwargs"] == {"settings": {"region": "eu", "api_key": "***"}}
    text = invoke("job", job_id, *with_app)
    assert text.exit_code == 0 and "'ada'" in text.output and "hunter22" not in text.output
    bare = orjson.loads(invoke("job", job_id, "--url", shared_url, "--json").output)
    assert bare["args"] == ["***", "***"]  # without the app no positional value is safe
    listed = orjson.loads(invoke("jobs", *with_app, "--json").output)["jobs"]
    assert [j["args"] for j in listed if j["id"] == job_id] == [["ada", "***"]]
    for out in (invoke("job", job_id, "--url", shared_url), invoke("jobs", "--url", shared_url)):
        assert out.exit_code == 0 and "hunter22" not in out.output and "k-123" not in out.output


def test_job_says_what_holds_it(shared_url: str) -> None:
    async def enqueue_paused(runner: TaskRunner) -> str:
        await runner.pause("feeds")
        return (await runner.tasks["ops.fetch"].enqueue("https://example.com/rss")).id

    job_id = run(shared_url, enqueue_paused)
    out = invoke("job", job_id, "--url", shared_url)
    assert out.exit_code == 0 and "held: its queue 'feeds' is paused" in out.output
    data = orjson.loads(invoke("job", job_id, "--url", shared_url, "--json").output)
    assert data["held_by"] == {"kind": "paused", "detail": "its queue 'feeds' is paused"}
    assert invoke("resume", "feeds", "--url", shared_url).exit_code == 0
    data = orjson.loads(invoke("job", job_id, "--url", shared_url, "--json").output)
    assert data["held_by"] == {"kind": "no_worker", "detail": "no worker takes queue 'feeds'"}
    run(shared_url, drained)
    out = invoke("job", job_id, "--url", shared_url)
    assert out.exit_code == 0 and "held" not in out.output
    data = orjson.loads(invoke("job", job_id, "--url", shared_url, "--json").output)
    assert data["state"] == "succeeded" and data["held_by"] is None


@pytest.mark.usefixtures("published")
def test_enqueue_with_a_dedup_window(shared_url: str) -> None:
    command = ["enqueue", "ops.fetch", '["https://example.com/w"]', "--url", shared_url]
    window = ["--queue", "windows", "--key", "feed-w", "--key-ttl", "1h"]
    first = invoke(*command, *window)
    assert first.exit_code == 0, first.output
    again = invoke(*command, *window)
    assert again.stdout.startswith(first.stdout.strip()) and "nothing new" in again.output


@pytest.mark.usefixtures("published")
def test_enqueue_after_other_jobs_and_show_both_sides(shared_url: str) -> None:
    require(shared_url, Dependencies)
    command = ["enqueue", "ops.fetch", "--url", shared_url, "--queue", "deps"]
    first = invoke(*command, '["https://example.com/a"]', "--delay", "1h")
    assert first.exit_code == 0, first.output
    first_id = first.stdout.strip()
    then = invoke(*command, '["https://example.com/b"]', "--after", first_id, "--run-anyway")
    assert then.exit_code == 0, then.output
    then_id = then.stdout.strip()
    shown = orjson.loads(invoke("job", then_id, "--url", shared_url, "--json").output)
    assert shown["state"] == "waiting" and shown["after"] == [first_id] and shown["run_anyway"]
    assert shown["held_by"]["kind"] == "dependencies"
    other = invoke("job", first_id, "--url", shared_url)
    assert other.exit_code == 0 and f"waited on by {then_id}" in other.output
    text = invoke("job", then_id, "--url", shared_url).output
    assert f"after {first_id} (runs whatever their outcome)" in text
    listed = invoke("jobs", "--url", shared_url, "--state", "waiting", "--json").output
    assert [j["id"] for j in orjson.loads(listed)["jobs"]] == [then_id]


@pytest.mark.usefixtures("published")
def test_enqueue_after_an_unknown_job_stores_nothing(shared_url: str) -> None:
    require(shared_url, Dependencies)
    missing = "01890000-0000-7000-8000-000000000000"
    out = invoke("enqueue", "ops.fetch", '["https://example.com/x"]', "--url", shared_url,
                 "--after", missing)  # fmt: skip
    assert out.exit_code != 0 and missing in out.output and "nothing was enqueued" in out.output
    alone = invoke("enqueue", "ops.fetch", "--url", shared_url, "--run-anyway")
    assert alone.exit_code != 0 and "--after" in alone.output


def test_enqueue_with_the_app_checks_the_task_and_its_arguments(shared_url: str) -> None:
    app = ["--app", "tests.apps.ops:runner", "--url", shared_url]
    unknown = invoke("enqueue", "ops.fetcher", '["x"]', *app)
    assert unknown.exit_code != 0 and "no task named 'ops.fetcher'" in unknown.output
    assert "ops.fetch" in unknown.output  # what it has
    wrong = invoke("enqueue", "ops.fetch", '{"url": "x", "link": "y"}', *app)
    assert wrong.exit_code != 0 and "unexpected keyword argument 'link'" in wrong.output
    good = invoke("enqueue", "ops.fetch", '["https://example.com/c"]', *app)
    assert good.exit_code == 0 and "cannot be checked" not in good.output
    stats = run(shared_url, lambda runner: runner.stats())
    assert stats["feeds"][JobState.QUEUED] == 1  # the good one only
