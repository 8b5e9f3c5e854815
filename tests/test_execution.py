"""One `Execution` run alone, without a `Worker`: it is given its record and `Services`, and
answers the attempt's outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from taskrunner import JobState, TaskRunner, current_job
from taskrunner._serialization import decode_result, encode_payload
from taskrunner.backend import Beat, JobRecord, OutcomeKind
from taskrunner.context import JobContext, State
from taskrunner.policy import Policy
from taskrunner.worker.execution import Execution
from taskrunner.worker.services import Services
from taskrunner.worker.settings import WorkerCounters

pytestmark = pytest.mark.anyio

runner = TaskRunner("memory://", result_ttl=60.0, failed_ttl=600.0)


@runner.task(retries=2, backoff=5.0)
async def add(a: int, b: int) -> int:
    return a + b


@runner.task(retries=1, backoff=5.0)
def broken() -> None:
    raise ValueError("no")


def record(task: str, *args: Any, attempt: int = 1, max_attempts: int = 3) -> JobRecord:
    return JobRecord(
        id="j1",
        task=task,
        queue="default",
        payload=encode_payload(args, {}),
        state=JobState.RUNNING,
        priority=0,
        attempt=attempt,
        max_attempts=max_attempts,
        enqueued_at=0.0,
        run_at=0.0,
    )


def services() -> Services:
    async def store_progress(make_beat: Callable[[], Beat | None]) -> None:
        make_beat()

    return Services(
        tasks=runner.tasks,
        state=State(),
        policy=Policy(runner.backoff, runner.result_ttl, runner.failed_ttl),
        counters=WorkerCounters(),
        limiter=anyio.CapacityLimiter(2),
        worker_id="w",
        notify_progress=lambda: None,
        store_progress=store_progress,
        fetch=runner.backend.get,
    )


async def test_a_success_answers_its_result_kept_for_the_result_ttl() -> None:
    given = services()
    outcome = await Execution(record(add.name, 2, 3), given).run()
    assert outcome is not None and outcome.kind is OutcomeKind.SUCCEEDED
    assert outcome.result is not None and decode_result(outcome.result) == 5
    assert (outcome.ttl, outcome.queue, given.counters.succeeded) == (60.0, "default", 1)


async def test_a_failure_with_attempts_left_answers_a_retry_after_the_backoff() -> None:
    given = services()
    outcome = await Execution(record(broken.name, max_attempts=2), given).run()
    assert outcome is not None and outcome.kind is OutcomeKind.RETRY
    assert (outcome.delay, given.counters.retried) == (5.0, 1)


async def test_the_last_failure_answers_failed_kept_for_the_failed_ttl() -> None:
    given = services()
    outcome = await Execution(record(broken.name, attempt=2, max_attempts=2), given).run()
    assert outcome is not None and outcome.kind is OutcomeKind.FAILED
    assert (outcome.ttl, given.counters.failed) == (600.0, 1)


async def test_an_unknown_task_fails_without_running() -> None:
    outcome = await Execution(record("nowhere.task"), services()).run()
    assert outcome is not None and outcome.kind is OutcomeKind.FAILED
    assert outcome.error is not None and b"UnknownTask" in outcome.error


@runner.task
async def look() -> None:
    seen.append(current_job())


seen: list[JobContext] = []


async def test_the_job_context_carries_the_services_and_a_callback_s_batch() -> None:
    given = services()
    job = record(look.name)
    job.payload = encode_payload((), {}, meta={"batch": "b1"})
    seen.clear()
    outcome = await Execution(job, given).run()
    assert outcome is not None and outcome.kind is OutcomeKind.SUCCEEDED
    (ctx,) = seen
    assert ctx.record is job
    assert ctx.state is given.state
    assert ctx.notify is given.notify_progress
    assert ctx.fetch is given.fetch
    assert (ctx.callback_of, ctx.batch_id) == ("b1", "b1")
    assert (ctx.progress, ctx.progress_reported) == (None, False)
