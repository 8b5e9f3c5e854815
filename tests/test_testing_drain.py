"""`drain`: every due job to its end, now, with a report of what ran and how it ended."""

from __future__ import annotations

import pytest

from taskrunner import AttemptOutcome, ConfigurationError, JobState, State, TaskRunner
from taskrunner.testing import DrainReport, drain
from tests.helpers import runner_on


async def test_a_drain_answers_each_attempt_and_how_it_ended() -> None:
    runner = runner_on()

    @runner.task(name="app.greet")
    async def greet(name: str, punctuation: str = "!") -> str:
        return f"hello {name}{punctuation}"

    @runner.task(name="app.fail", retries=0)
    async def fail(code: int) -> None:
        raise ValueError(f"code {code}")

    first = await greet.enqueue("ada")
    await greet.enqueue(name="bob", punctuation="?")
    await fail.enqueue(7)
    report = await drain(runner)

    assert isinstance(report, DrainReport) and len(report) == 3
    assert sorted(report.outcomes()) == sorted(["succeeded", "succeeded", "failed"])
    assert report.outcomes(fail) == [AttemptOutcome.FAILED] == report.outcomes("app.fail")
    (failed,) = report.of(fail)
    assert (failed.args, failed.kwargs, failed.attempt) == ([7], {}, 1)
    assert failed.error is not None and failed.error.type == "ValueError"
    assert str(failed).startswith("app.fail(7) attempt 1: failed at ")
    assert str(failed).endswith(" (ValueError: code 7)")
    assert {a.kwargs.get("name") for a in report.of(greet) if a.kwargs} == {"bob"}
    assert first.id in report.job_ids and len(report.job_ids) == 3
    assert list(report) == report.attempts
    assert "app.greet('ada') attempt 1: succeeded" in str(report)
    assert await first.result() == "hello ada!"


async def test_no_time_passes_in_a_plain_drain() -> None:
    runner = runner_on()
    tries: list[int] = []

    @runner.task(retries=2, backoff=30)
    async def flaky() -> None:
        tries.append(1)
        raise ConnectionError("no")

    job = await flaky.enqueue()
    later = await flaky.options(delay=60).enqueue()
    assert (await drain(runner)).outcomes() == [AttemptOutcome.RETRY]
    assert [(await j.info()).state for j in (job, later)] == [JobState.SCHEDULED] * 2
    assert str(await drain(runner)) == "no attempt ran"


async def test_worker_settings_pass_through_and_hooks_run_once() -> None:
    runner = TaskRunner("memory://")
    hooks: list[str] = []

    @runner.on_startup
    async def start(state: State) -> None:
        hooks.append("start")

    @runner.on_shutdown
    async def stop(state: State) -> None:
        hooks.append("stop")

    @runner.task(queue="mail")
    async def send() -> None:
        return None

    @runner.task(queue="feeds")
    async def fetch() -> None:
        return None

    await send.enqueue()
    await fetch.enqueue()
    report = await drain(runner, queues=["mail"], concurrency=1)
    assert [a.task for a in report] == [send.name]
    assert hooks == ["start", "stop"]
    with pytest.raises(ConfigurationError, match="concurrency"):
        await drain(runner, concurrency=0)
