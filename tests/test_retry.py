"""Backoff policies, `Retry`, and how a worker applies them to failed attempts."""

from __future__ import annotations

import asyncio
import gc
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from typing import Any, cast

import anyio
import pytest

from taskrunner import (
    Backoff,
    ConfigurationError,
    JobFailed,
    JobInfo,
    JobState,
    Retry,
    TaskRunner,
    current_job,
    fixed,
)
from taskrunner.retry import as_backoff

# explicit, so that parametrized coroutine tests keep their parameters under anyio's plugin
pytestmark = pytest.mark.anyio

# -- Backoff --------------------------------------------------------------------------------


def test_backoff_defaults_double_from_one_second() -> None:
    backoff = Backoff(jitter=False)
    assert [backoff.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 16, 32]


def test_backoff_base_and_factor() -> None:
    backoff = Backoff(base=0.5, factor=3, jitter=False)
    assert [backoff.delay(n) for n in range(1, 5)] == [0.5, 1.5, 4.5, 13.5]


def test_backoff_factor_one_is_constant() -> None:
    backoff = Backoff(base=7, factor=1, jitter=False)
    assert {backoff.delay(n) for n in range(1, 50)} == {7}


def test_backoff_is_capped_at_max_delay() -> None:
    backoff = Backoff(base=10, factor=2, max_delay=60, jitter=False)
    assert [backoff.delay(n) for n in range(1, 7)] == [10, 20, 40, 60, 60, 60]


@pytest.mark.parametrize("attempt", [64, 65, 1000, 10**9])
def test_backoff_cap_holds_for_huge_attempt_numbers(attempt: int) -> None:
    assert Backoff(jitter=False).delay(attempt) == 300
    assert Backoff(max_delay=5, jitter=False).delay(attempt) == 5


def test_backoff_default_is_capped_at_five_minutes() -> None:
    assert Backoff(jitter=False).delay(9) == 256
    assert Backoff(jitter=False).delay(10) == 300


@pytest.mark.parametrize(("rand", "fraction"), [(0.0, 0.5), (0.5, 0.75), (0.999999, 0.9999995)])
def test_backoff_jitter_maps_rand_onto_the_upper_half(rand: float, fraction: float) -> None:
    backoff = Backoff(base=4, factor=2, max_delay=1000)
    for attempt in range(1, 8):
        full = 4 * 2 ** (attempt - 1)
        assert backoff.delay(attempt, rand=lambda: rand) == pytest.approx(full * fraction)


def test_backoff_jitter_stays_within_half_and_full_delay() -> None:
    backoff = Backoff(base=1, factor=2, max_delay=300)
    draws = random.Random(1234).random
    for attempt in range(1, 20):
        full = min(300, 2 ** (attempt - 1))
        delays = [backoff.delay(attempt, rand=draws) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 100  # it does vary


def test_backoff_jitter_applies_after_the_cap() -> None:
    backoff = Backoff(base=1, factor=2, max_delay=300)
    assert backoff.delay(30, rand=lambda: 0.0) == 150
    assert backoff.delay(30, rand=lambda: 1.0) == 300


def test_backoff_without_jitter_ignores_rand() -> None:
    def never(_: None = None) -> float:
        raise AssertionError("rand must not be drawn without jitter")

    assert Backoff(jitter=False).delay(3, rand=never) == 4


@pytest.mark.parametrize(
    "kwargs",
    [{"base": -1}, {"factor": 0.5}, {"factor": 0}, {"max_delay": -1}],
)
def test_backoff_rejects_bad_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="Backoff needs"):
        Backoff(**kwargs)


# -- fixed ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5.0), (2.5, 2.5), (0, 0.0), (timedelta(minutes=2), 120.0), (timedelta(0), 0.0)],
)
def test_fixed_waits_the_same_after_every_attempt(
    value: float | timedelta, expected: float
) -> None:
    backoff = fixed(value)
    assert {backoff.delay(n) for n in (1, 2, 3, 10, 100, 10_000)} == {expected}


@pytest.mark.parametrize("value", [-1, -0.5, timedelta(seconds=-1), math.nan, "5", None, True])
def test_fixed_rejects_bad_delays(value: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"fixed\(delay\)"):
        fixed(value)


# -- as_backoff -----------------------------------------------------------------------------


def test_as_backoff_keeps_a_backoff_policy() -> None:
    policy = Backoff(base=3, factor=3, jitter=False)
    backoff = as_backoff(policy)
    assert [backoff(n) for n in (1, 2, 3)] == [3, 9, 27]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(10, 10.0), (0.25, 0.25), (0, 0.0), (timedelta(seconds=90), 90.0)],
)
def test_as_backoff_numbers_and_timedeltas_are_fixed_delays(
    value: float | timedelta, expected: float
) -> None:
    backoff = as_backoff(value)
    assert [backoff(n) for n in (1, 2, 5, 50)] == [expected] * 4


def test_as_backoff_calls_a_function_with_the_attempt() -> None:
    seen: list[int] = []

    def linear(attempt: int) -> float:
        seen.append(attempt)
        return attempt * 10.0

    backoff = as_backoff(linear)
    assert [backoff(n) for n in (1, 2, 3)] == [10, 20, 30]
    assert seen == [1, 2, 3]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("5", "backoff must be"),
        (None, "backoff must be"),
        (True, "backoff must be"),
        ([1, 2], "backoff must be"),
        (-1, "negative"),
        (timedelta(seconds=-3), "negative"),
        (math.nan, "negative"),
    ],
)
def test_as_backoff_rejects_bad_values(value: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        as_backoff(value)


def test_task_and_runner_reject_bad_backoff() -> None:
    with pytest.raises(ConfigurationError, match="backoff"):
        TaskRunner("memory://", backoff=cast(Any, "fast"))
    runner = TaskRunner("memory://")
    with pytest.raises(ConfigurationError, match="backoff"):

        @runner.task(backoff=cast(Any, "slow"))
        async def task() -> None: ...


# -- Retry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "expected"),
    [(30, 30.0), (0, 0.0), (1.5, 1.5), (timedelta(hours=1), 3600.0), (None, None)],
)
def test_retry_delay_in_seconds_or_timedelta(
    delay: float | timedelta | None, expected: float | None
) -> None:
    assert Retry(delay=delay).delay == expected


def test_retry_is_an_exception_with_a_reason() -> None:
    retry = Retry(10, reason="rate limited")
    assert isinstance(retry, Exception)
    assert retry.reason == "rate limited"
    assert str(retry) == "rate limited"
    assert str(Retry()) == "retry requested"


@pytest.mark.parametrize("delay", [-1, -0.001, timedelta(seconds=-1), math.nan, "5", True])
def test_retry_rejects_bad_delays(delay: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"Retry\(delay=\.\.\.\)"):
        Retry(delay=delay)


def test_retry_rejects_an_infinite_delay() -> None:
    with pytest.raises(ConfigurationError):
        Retry(delay=math.inf)


# -- through a worker -----------------------------------------------------------------------


@pytest.fixture
async def runner() -> AsyncIterator[TaskRunner]:
    runner = TaskRunner("memory://")
    yield runner
    await runner.close()


async def run_burst(runner: TaskRunner, concurrency: int = 1) -> None:
    """Run a worker until nothing is due, and fail the test if that takes unreasonably long."""
    with anyio.fail_after(15):
        await runner.worker(concurrency=concurrency, burst=True).run()


class Boom(Exception):
    pass


def assert_due_between(info: JobInfo, earliest: float, latest: float) -> None:
    """`info.run_at` lies in [earliest, latest], give or take its microsecond rounding."""
    assert earliest - 1e-3 <= info.run_at.timestamp() <= latest + 1e-3


def recording(calls: list[int], delay: float = 0.0) -> Callable[[int], float]:
    """A backoff that notes each attempt number it is asked about."""

    def backoff(attempt: int) -> float:
        calls.append(attempt)
        return delay

    return backoff


async def test_backoff_function_gets_attempt_numbers(runner: TaskRunner) -> None:
    attempts: list[int] = []

    @runner.task(retries=3, backoff=recording(attempts))
    async def always_fails() -> None:
        raise Boom(f"attempt {current_job().attempt}")

    job = await always_fails.enqueue()
    await run_burst(runner)
    assert attempts == [1, 2, 3]  # not called after the last attempt
    info = await runner.get_job(job.id)
    assert info.state is JobState.FAILED
    assert (info.attempt, info.max_attempts) == (4, 4)
    assert info.error is not None
    assert info.error.message == "attempt 4"


async def test_runner_backoff_applies_to_tasks_without_their_own() -> None:
    runner_calls: list[int] = []
    task_calls: list[int] = []
    runner = TaskRunner("memory://", backoff=recording(runner_calls))

    @runner.task(retries=1)
    async def plain() -> None:
        raise Boom

    @runner.task(retries=1, backoff=recording(task_calls))
    async def own() -> None:
        raise Boom

    await plain.enqueue()
    await own.enqueue()
    await run_burst(runner)
    assert runner_calls == [1]
    assert task_calls == [1]


async def test_sync_task_is_retried_too(runner: TaskRunner) -> None:
    @runner.task(retries=2, backoff=0)
    def flaky() -> int:
        attempt = current_job().attempt
        if attempt < 3:
            raise Boom(f"attempt {attempt}")
        return attempt

    job = await flaky.enqueue()
    await run_burst(runner)
    assert await job.result(timeout=5) == 3


async def test_failed_attempt_waits_for_its_backoff(runner: TaskRunner) -> None:
    @runner.task(retries=3, backoff=3600)
    async def fails_once() -> None:
        raise Boom("first try")

    job = await fails_once.enqueue()
    before = time.time()
    await run_burst(runner)  # exits: the retry is not due for an hour
    after = time.time()
    info = await runner.get_job(job.id)
    assert info.state is JobState.SCHEDULED
    assert info.attempt == 1
    assert_due_between(info, before + 3600, after + 3600)
    assert info.error is not None
    assert (info.error.message, info.finished_at) == ("first try", None)


async def test_default_jittered_backoff_sets_run_at_within_its_bounds() -> None:
    runner = TaskRunner("memory://", backoff=Backoff(base=1000, factor=2, max_delay=10_000))

    @runner.task(retries=3)
    async def fails() -> None:
        raise Boom

    jobs = [await fails.enqueue() for _ in range(5)]
    before = time.time()
    await run_burst(runner, concurrency=5)
    after = time.time()
    for info in await runner.get_jobs([j.id for j in jobs]):
        assert info is not None
        assert info.state is JobState.SCHEDULED
        assert_due_between(info, before + 500, after + 1000)


async def test_retry_on_retries_only_the_named_errors(runner: TaskRunner) -> None:
    @runner.task(retries=3, backoff=0, retry_on=KeyError)
    async def first_attempt_raises(kind: str) -> int:
        attempt = current_job().attempt
        if attempt == 1:
            raise KeyError("missing") if kind == "key" else ValueError("bad value")
        return attempt

    key_job = await first_attempt_raises.enqueue("key")
    value_job = await first_attempt_raises.enqueue("value")
    await run_burst(runner)
    assert await key_job.result(timeout=5) == 2
    info = await runner.get_job(value_job.id)
    assert info.state is JobState.FAILED
    assert (info.attempt, info.max_attempts) == (1, 4)
    assert info.error is not None
    assert (info.error.type, info.error.message) == ("ValueError", "bad value")


async def test_retry_on_accepts_a_tuple_and_subclasses(runner: TaskRunner) -> None:
    @runner.task(retries=1, backoff=0, retry_on=(KeyError, OSError))
    async def raises(exc_name: str) -> str:
        if current_job().attempt == 1:
            raise {"lookup": KeyError, "timeout": TimeoutError, "type": TypeError}[exc_name]()
        return exc_name

    jobs = {name: await raises.enqueue(name) for name in ("lookup", "timeout", "type")}
    await run_burst(runner)
    assert await jobs["lookup"].result(timeout=5) == "lookup"
    assert await jobs["timeout"].result(timeout=5) == "timeout"  # TimeoutError is an OSError
    assert (await runner.get_job(jobs["type"].id)).state is JobState.FAILED


async def test_retry_raised_in_a_task_schedules_it_an_hour_out(runner: TaskRunner) -> None:
    backoff_calls: list[int] = []

    @runner.task(retries=3, backoff=recording(backoff_calls))
    async def later(delay: float | None) -> None:
        raise Retry(delay=timedelta(hours=1) if delay is None else delay, reason="not yet")

    seconds_job = await later.enqueue(3600)
    timedelta_job = await later.enqueue(None)
    before = time.time()
    await run_burst(runner, concurrency=2)
    after = time.time()
    for job in (seconds_job, timedelta_job):
        info = await runner.get_job(job.id)
        assert info.state is JobState.SCHEDULED
        assert info.attempt == 1
        assert_due_between(info, before + 3600, after + 3600)
        assert info.error is not None
        assert info.error.message == "not yet"
    assert backoff_calls == []  # Retry's own delay wins over the backoff


async def test_retry_without_delay_uses_the_backoff(runner: TaskRunner) -> None:
    calls: list[int] = []

    @runner.task(retries=2, backoff=recording(calls))
    async def again() -> int:
        if current_job().attempt < 3:
            raise Retry
        return current_job().attempt

    job = await again.enqueue()
    await run_burst(runner)
    assert await job.result(timeout=5) == 3
    assert calls == [1, 2]


async def test_retry_is_retried_even_outside_retry_on(runner: TaskRunner) -> None:
    @runner.task(retries=1, retry_on=KeyError)
    async def asks_again() -> str:
        if current_job().attempt == 1:
            raise Retry(delay=0)
        return "second"

    job = await asks_again.enqueue()
    await run_burst(runner)
    assert await job.result(timeout=5) == "second"


@pytest.mark.parametrize("retries", [0, 2])
async def test_retry_with_no_attempts_left_fails_the_job(runner: TaskRunner, retries: int) -> None:
    @runner.task(retries=retries)
    async def keeps_asking() -> None:
        raise Retry(delay=0, reason=f"attempt {current_job().attempt} wants more")

    job = await keeps_asking.enqueue()
    await run_burst(runner)
    info = await runner.get_job(job.id)
    assert info.state is JobState.FAILED
    assert info.attempt == retries + 1
    assert info.error is not None
    assert info.error.type.endswith("Retry")
    assert info.error.message == f"attempt {retries + 1} wants more"
    with pytest.raises(JobFailed) as caught:
        await job.result(timeout=5)
    assert caught.value.state == "failed"


async def test_no_retries_fails_at_once_without_backoff(runner: TaskRunner) -> None:
    calls: list[int] = []

    @runner.task(retries=0, backoff=recording(calls))
    async def once() -> None:
        raise Boom("only chance")

    job = await once.enqueue()
    await run_burst(runner)
    info = await runner.get_job(job.id)
    assert (info.state, info.attempt, calls) == (JobState.FAILED, 1, [])


def explode_deep_inside(value: int) -> None:
    raise Boom(f"cannot handle {value}")


async def test_error_type_message_and_traceback_are_kept(runner: TaskRunner) -> None:
    @runner.task(retries=1, backoff=0)
    async def broken(value: int) -> None:
        explode_deep_inside(value + current_job().attempt)

    job = await broken.enqueue(40)
    await run_burst(runner)
    info = await runner.get_job(job.id)
    assert info.state is JobState.FAILED
    assert info.error is not None
    assert info.error.type == f"{Boom.__module__}.Boom"
    assert info.error.message == "cannot handle 42"  # the last attempt's error
    assert "explode_deep_inside" in info.error.traceback
    assert "broken" in info.error.traceback
    assert info.error.traceback.rstrip().endswith("Boom: cannot handle 42")
    with pytest.raises(JobFailed) as caught:
        await job.result(timeout=5)
    assert caught.value.error == info.error
    assert "cannot handle 42" in str(caught.value)


async def test_embedded_worker_retries_until_success(runner: TaskRunner) -> None:
    @runner.task(retries=5, backoff=fixed(0))
    async def third_time_lucky() -> int:
        attempt = current_job().attempt
        if attempt < 3:
            raise ConnectionError(f"attempt {attempt}")
        return attempt

    async with runner.worker(concurrency=2):
        job = await third_time_lucky.enqueue()
        assert await job.result(timeout=10) == 3
    info = await runner.get_job(job.id)
    assert (info.state, info.attempt) == (JobState.SUCCEEDED, 3)


# -- robustness: a bad policy or a bad exception must not wedge the job or the worker -------


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


def run_apart(scenario: Callable[[], Coroutine[Any, Any, JobInfo]]) -> JobInfo:
    """Run on a loop of its own: while these bugs stand, a worker's attempt task dies with
    an exception nobody retrieves, which anyio's test runner would report at teardown.
    Collect the dead task here, so its "never retrieved" report is not logged from a
    garbage collection that happens to run inside pytest's own traceback rendering."""
    try:
        return asyncio.run(scenario())
    finally:
        gc.collect()


def test_exception_with_broken_str_still_fails_the_job() -> None:
    runner = TaskRunner("memory://")

    @runner.task(retries=0)
    async def raises_unprintable() -> None:
        raise UnprintableError

    async def scenario() -> JobInfo:
        job = await raises_unprintable.enqueue()
        await run_burst(runner)
        return await runner.get_job(job.id)

    info = run_apart(scenario)
    assert info.state is JobState.FAILED
    assert info.error is not None
    assert "UnprintableError" in info.error.type


def test_backoff_function_that_raises_does_not_strand_the_job() -> None:
    runner = TaskRunner("memory://")

    def broken_backoff(attempt: int) -> float:
        raise ZeroDivisionError("bad policy")

    @runner.task(retries=2, backoff=broken_backoff)
    async def fails() -> None:
        raise Boom

    async def scenario() -> JobInfo:
        job = await fails.enqueue()
        await run_burst(runner)
        return await runner.get_job(job.id)

    assert run_apart(scenario).state is not JobState.RUNNING


async def test_backoff_returning_a_non_number_does_not_block_other_jobs(
    runner: TaskRunner,
) -> None:
    bad_backoff = cast(Callable[[int], float], lambda attempt: "5")

    @runner.task(retries=2, backoff=bad_backoff)
    async def fails() -> None:
        raise Boom

    @runner.task
    async def fine() -> str:
        return "done"

    bad = await fails.enqueue()
    good = await fine.enqueue()
    with anyio.move_on_after(3) as scope:
        # one slot: the bad job's outcome is pending when the good job finishes
        await runner.worker(concurrency=1, burst=True).run()
    assert not scope.cancelled_caught, "the burst worker never drained its outcomes"
    assert (await runner.get_job(good.id)).state is JobState.SUCCEEDED
    assert (await runner.get_job(bad.id)).state is not JobState.RUNNING
