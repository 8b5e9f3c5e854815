"""Transparency through the runner: attempt history, listing, stats and live workers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskrunner import ConfigurationError, JobState, current_job
from taskrunner.backend import AttemptOutcome, Outcome, OutcomeKind
from taskrunner.memory import MemoryBackend
from taskrunner.stats import percentile
from taskrunner.testing.conformance.helpers import WORKER, new_job
from tests.helpers import drain, eventually, runner_on


async def test_get_job_shows_every_attempt() -> None:
    runner = runner_on()

    @runner.task(retries=2, backoff=0)
    async def flaky() -> str:
        if current_job().attempt < 3:
            raise ConnectionError(f"attempt {current_job().attempt} timed out")
        return "ok"

    job = await flaky.enqueue()
    await drain(runner)
    info = await runner.get_job(job.id)
    assert [(a.attempt, a.outcome) for a in info.attempts] == [
        (1, AttemptOutcome.RETRY),
        (2, AttemptOutcome.RETRY),
        (3, AttemptOutcome.SUCCEEDED),
    ]
    first = info.attempts[0]
    assert first.error is not None and first.error.type == "ConnectionError"
    assert first.error.message == "attempt 1 timed out"
    assert "in flaky" in first.error.traceback
    assert first.worker is not None and first.duration is not None and first.duration >= 0
    assert info.attempts[2].error is None


async def test_list_jobs_pages_and_filters() -> None:
    runner = runner_on()

    @runner.task
    async def resize(n: int) -> int:
        return n

    @runner.task(queue="mail")
    async def send(n: int) -> None:
        return None

    jobs = [await resize.enqueue(i) for i in range(5)]
    mail = await send.enqueue(1)
    page = await runner.list_jobs(limit=3)
    assert [j.id for j in page.jobs] == [mail.id, jobs[4].id, jobs[3].id]
    assert page.next == jobs[3].id
    rest = await runner.list_jobs(limit=3, before=page.next)
    assert [j.id for j in rest.jobs] == [jobs[2].id, jobs[1].id, jobs[0].id]
    by_task = await runner.list_jobs(task=resize.name, state="queued")
    assert len(by_task.jobs) == 5 and by_task.next is None
    assert [j.id for j in (await runner.list_jobs(queue="mail")).jobs] == [mail.id]
    assert (await runner.list_jobs(state=JobState.FAILED)).jobs == []
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert len((await runner.list_jobs(since=an_hour_ago)).jobs) == 6
    assert (await runner.list_jobs(until=an_hour_ago)).jobs == []


async def test_list_jobs_refuses_bad_filters() -> None:
    runner = runner_on()
    with pytest.raises(ConfigurationError, match="unknown job state 'done'"):
        await runner.list_jobs(state="done")
    with pytest.raises(ConfigurationError, match="limit"):
        await runner.list_jobs(limit=0)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        await runner.list_jobs(since=datetime(2030, 1, 1))
    with pytest.raises(ConfigurationError, match="queue name"):
        await runner.list_jobs(queue="a b")


async def test_stats_report_throughput_failures_runtimes_and_waits() -> None:
    runner = runner_on()

    @runner.task(retries=0)
    async def sometimes(fail: bool) -> None:
        if fail:
            raise ValueError("asked to fail")

    @runner.task(queue="idle")
    async def waits() -> None:
        return None

    await runner.enqueue_many(sometimes.prepare(i % 4 == 0) for i in range(20))
    await drain(runner, queues=("default",))
    await waits.enqueue()
    stats = await runner.stats(window=60)
    default = stats["default"]
    assert default[JobState.SUCCEEDED] == 15 and default[JobState.FAILED] == 5
    assert default.span is not None and 60 <= default.span < 61  # from a whole second
    assert default.throughput == pytest.approx(20 / default.span)
    assert default.failure_rate == pytest.approx(0.25)
    assert default.runtime_p50 is not None and default.runtime_p95 is not None
    assert 0 <= default.runtime_p50 <= default.runtime_p95
    assert default.oldest_queued_age is None
    idle = stats["idle"]
    assert idle[JobState.QUEUED] == 1
    assert idle.oldest_queued_age is not None and idle.oldest_queued_age >= 0
    assert idle.failure_rate is None and idle.throughput == 0


async def test_stats_list_the_workers_alive() -> None:
    runner = runner_on()
    async with runner.worker(concurrency=3, queues=["default"]) as worker:
        await eventually(runner.workers)
        (seen,) = (await runner.stats()).workers
        assert (seen.id, seen.concurrency, seen.queues) == (worker.id, 3, ("default",))
    assert await runner.workers() == []


async def test_a_backend_without_inspection_still_counts() -> None:
    class Plain(MemoryBackend):
        # a backend implementing only the core protocol
        list_jobs = activity = register_worker = unregister_worker = workers = None  # type: ignore[assignment]

    runner = runner_on(Plain())

    @runner.task
    async def noop() -> None:
        return None

    await noop.enqueue()
    stats = await runner.stats()
    assert stats["default"][JobState.QUEUED] == 1
    assert stats["default"].throughput is None and stats.workers == []
    with pytest.raises(ConfigurationError, match="cannot list jobs"):
        await runner.list_jobs()
    await drain(runner)  # the worker runs without a registry


# seconds before "now" at which attempts end, around minute and hour edges
ENDED_AGO = [3600.4, 3599.5, 3590.0, 1800.2, 61.3, 60.0, 59.7, 5.2, 4.9, 1.01, 0.3, 0.0]
WINDOWS = [1, 1.5, 5, 59.5, 60, 61, 300, 3599, 3600]


@pytest.mark.parametrize("now", [1_800_000_000.0, 1_800_000_059.95, 1_800_000_030.5])
async def test_stats_count_exactly_the_seconds_of_the_window(now: float) -> None:
    clock = [now - max(ENDED_AGO)]
    backend = MemoryBackend(clock=lambda: clock[0])
    runner = runner_on(backend)
    outcomes = [OutcomeKind.SUCCEEDED, OutcomeKind.FAILED, OutcomeKind.RETRY]
    ended: list[tuple[float, OutcomeKind]] = []
    for i, ago in enumerate(sorted(ENDED_AGO, reverse=True)):
        clock[0] = now - ago
        await backend.enqueue([new_job()])
        (job,) = await backend.claim(["default"], 1, WORKER, 30)
        kind = outcomes[i % 3]
        await backend.finish([Outcome(job.id, 1, kind, result=b"1", error=b"{}", delay=3600)])
        ended.append((clock[0], kind))
    clock[0] = now
    for window in WINDOWS:
        stats = (await runner.stats(window=window))["default"]
        start = math.floor(now - window)
        counted = [kind for at, kind in ended if at >= start]
        span = stats.span
        assert span is not None and window <= span < window + 1
        assert span == pytest.approx(now - start)
        assert stats.throughput == pytest.approx(len(counted) / span), window
        failing = sum(kind is not OutcomeKind.SUCCEEDED for kind in counted)
        assert stats.failure_rate == pytest.approx(failing / len(counted)), window


@pytest.mark.parametrize("window", [0, 0.5, -5, 3600.5, 86400, math.nan, math.inf])
async def test_stats_refuse_a_window_they_cannot_count(window: float) -> None:
    with pytest.raises(ConfigurationError, match="window must be from 1 to 3600 seconds"):
        await runner_on().stats(window=window)


def test_percentile_is_nearest_rank() -> None:
    values: list[Any] = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0.5) == 2.0
    assert percentile(values, 0.95) == 4.0
    assert percentile([], 0.5) is None
