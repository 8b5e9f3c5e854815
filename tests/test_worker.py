"""The worker on the memory backend: concurrency, timeouts, retries, cancel, shutdown."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import anyio
import pytest

from taskrunner import (
    JobFailed,
    JobState,
    TaskRunner,
    current_job,
)
from taskrunner._serialization import encode_payload
from taskrunner.memory import MemoryBackend
from taskrunner.testing import new_job
from taskrunner.worker.outbox import UNREPORTED_AHEAD
from tests.helpers import drain, eventually, runner_on


async def test_concurrency_limit_is_never_exceeded() -> None:
    runner = runner_on()
    running, most = 0, 0
    release = anyio.Event()

    @runner.task
    async def hold() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1

    jobs = await runner.enqueue_many(hold.prepare() for _ in range(12))
    async with runner.worker(concurrency=4) as worker:
        await eventually(lambda: running == 4)
        assert worker.running == 4
        release.set()
        for job in jobs:
            await job.result(timeout=10)
    assert most == 4


async def test_claims_several_jobs_per_round_trip() -> None:
    backend = MemoryBackend()
    claims: list[int] = []
    original = backend.claim

    async def counting_claim(*args: Any, **kwargs: Any) -> Any:
        records = await original(*args, **kwargs)
        claims.append(len(records))
        return records

    backend.claim = counting_claim  # type: ignore[method-assign]
    runner = runner_on(backend)

    @runner.task
    async def noop() -> None:
        return None

    await runner.enqueue_many(noop.prepare() for _ in range(100))
    await drain(runner, concurrency=50)
    assert max(claims) == 50
    assert sum(claims) == 100


async def test_results_are_stored_and_read_back() -> None:
    runner = runner_on()

    @runner.task
    async def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    job = await add.enqueue(2, b=3)
    await drain(runner)
    assert await job.result(timeout=1) == {"sum": 5}
    info = await runner.get_job(job.id)
    assert info.state is JobState.SUCCEEDED
    assert (info.args, info.kwargs) == ([2], {"b": 3})
    assert info.attempt == 1 and info.worker is not None
    assert info.started_at is not None and info.finished_at is not None


async def test_plain_def_tasks_run_in_a_worker_thread() -> None:
    runner = runner_on()
    seen: dict[str, Any] = {}

    @runner.task
    def blocking(x: int) -> int:
        seen["thread"] = threading.current_thread()
        seen["job"] = current_job().id
        return x * 2

    job = await blocking.enqueue(21)
    await drain(runner)
    assert await job.result(timeout=1) == 42
    assert seen["thread"] is not threading.main_thread()
    assert seen["job"] == job.id


async def test_timeout_fails_the_attempt() -> None:
    runner = runner_on()

    @runner.task(timeout=0.05, retries=1, backoff=0)
    async def hangs() -> None:
        await anyio.sleep(60)

    job = await hangs.enqueue()
    await drain(runner)
    with pytest.raises(JobFailed) as failed:
        await job.result(timeout=1)
    assert failed.value.error is not None
    assert failed.value.error.type == "taskrunner.errors.TaskTimeout"
    assert "timeout of 0.05s" in failed.value.error.message
    assert (await runner.get_job(job.id)).attempt == 2


async def test_timeout_applies_to_plain_def_tasks() -> None:
    runner = runner_on()
    stop = threading.Event()

    @runner.task(timeout=0.05, retries=0)
    def spins() -> None:
        stop.wait(0.3)  # the attempt's outcome waits for the function to return

    job = await spins.enqueue()
    try:
        await drain(runner)
    finally:
        stop.set()
    info = await runner.get_job(job.id)
    assert info.state is JobState.FAILED
    assert info.error is not None and "TaskTimeout" in info.error.type


async def test_a_failing_job_retries_and_succeeds() -> None:
    runner = runner_on()
    attempts: list[int] = []

    @runner.task(retries=3, backoff=0)
    async def flaky() -> str:
        attempts.append(current_job().attempt)
        if len(attempts) < 3:
            raise ConnectionError("feed server hung up")
        return "fetched"

    job = await flaky.enqueue()
    await drain(runner)
    assert await job.result(timeout=1) == "fetched"
    assert attempts == [1, 2, 3]
    info = await runner.get_job(job.id)
    assert (info.attempt, info.max_attempts) == (3, 4)


async def test_exhausted_retries_fail_with_the_remote_error() -> None:
    runner = runner_on()

    @runner.task(retries=1, backoff=0)
    async def broken(url: str) -> None:
        raise ValueError(f"cannot parse {url}")

    job = await broken.enqueue("http://x/feed")
    await drain(runner)
    with pytest.raises(JobFailed) as failed:
        await job.result(timeout=1)
    error = failed.value.error
    assert error is not None
    assert (error.type, error.message) == ("ValueError", "cannot parse http://x/feed")
    assert "in broken" in error.traceback and "ValueError" in error.traceback
    info = await runner.get_job(job.id)
    assert info.state is JobState.FAILED and info.attempt == 2


async def test_current_job_reports_the_attempt_and_progress() -> None:
    runner = runner_on()
    proceed = anyio.Event()

    @runner.task
    async def import_rows(total: int) -> None:
        job = current_job()
        assert job.task == import_rows.name and job.attempt == 1 and job.retries_left == 3
        job.report_progress(3, total, "3 rows imported")
        await proceed.wait()

    job = await import_rows.enqueue(10)
    async with runner.worker(heartbeat=0.05, lease=1):

        async def has_progress() -> bool:
            return (await runner.get_job(job.id)).progress is not None

        await eventually(has_progress)
        progress = (await runner.get_job(job.id)).progress
        assert progress is not None
        assert (progress.done, progress.total, progress.message) == (3, 10, "3 rows imported")
        proceed.set()
        await job.result(timeout=5)


async def test_cancel_a_queued_job_before_it_runs() -> None:
    runner = runner_on()
    ran = []

    @runner.task
    async def send() -> None:
        ran.append(1)

    job = await send.enqueue()
    assert await runner.cancel(job.id) is JobState.CANCELLED
    await drain(runner)
    assert ran == []
    with pytest.raises(JobFailed, match="cancelled"):
        await job.result(timeout=1)


async def test_cancel_a_running_job_stops_it() -> None:
    runner = runner_on()
    started, cleaned_up = anyio.Event(), anyio.Event()

    @runner.task
    async def long_running() -> None:
        started.set()
        try:
            await anyio.sleep(60)
        finally:
            cleaned_up.set()

    job = await long_running.enqueue()
    async with runner.worker(heartbeat=0.02, lease=1) as worker:
        await started.wait()
        assert await job.cancel() is JobState.RUNNING
        with pytest.raises(JobFailed, match="cancelled"):
            await job.result(timeout=5)
        assert cleaned_up.is_set()
        assert worker.counters.cancelled == 1
    assert (await runner.get_job(job.id)).state is JobState.CANCELLED


async def test_unknown_task_and_bad_payload_fail_and_the_worker_carries_on() -> None:
    runner = runner_on()

    @runner.task
    async def fine() -> str:
        return "ok"

    unknown = new_job(task="nobody.registered.this", max_attempts=5)
    garbage = new_job(task=fine.name, payload=b"\x00not json")
    not_an_object = new_job(task=fine.name, payload=b"[1, 2]")
    await runner.backend.enqueue([unknown, garbage, not_an_object])
    good = await fine.enqueue()
    await drain(runner)
    assert await good.result(timeout=1) == "ok"
    infos = await runner.get_jobs([unknown.id, garbage.id, not_an_object.id])
    errors = [info.error for info in infos if info is not None]
    assert [e.type for e in errors if e] == [
        "UnknownTask",
        "UndecodablePayload",
        "UndecodablePayload",
    ]
    assert all(info is not None and info.attempt == 1 for info in infos)  # never retried
    assert errors[0] is not None and "nobody.registered.this" in errors[0].message


async def test_a_result_json_cannot_carry_fails_the_job_without_retrying() -> None:
    runner = runner_on()

    @runner.task(retries=3)
    async def returns_a_set() -> object:
        return {1, 2}

    job = await returns_a_set.enqueue()
    await drain(runner)
    info = await runner.get_job(job.id)
    assert info.state is JobState.FAILED and info.attempt == 1
    assert info.error is not None and info.error.type == "UnserializableResult"


async def test_heartbeats_keep_a_long_job_from_being_rescued() -> None:
    runner = runner_on()
    done = anyio.Event()

    @runner.task
    async def slow() -> None:
        await done.wait()

    job = await slow.enqueue()
    async with runner.worker(lease=0.3, heartbeat=0.05, reclaim_interval=0.05) as worker:
        await eventually(lambda: worker.running == 1)
        await anyio.sleep(1.0)  # several leases long: only heartbeats keep the job
        done.set()
        await job.result(timeout=5)
    info = await runner.get_job(job.id)
    assert info.attempt == 1
    assert worker.counters.rejected == 0


async def test_a_job_whose_worker_vanished_is_rescued_and_fails_when_out_of_attempts() -> None:
    runner = runner_on()

    @runner.task(retries=0)
    async def once() -> None:
        return None

    rescued = await once.enqueue()
    # a worker that claims and then dies: it never heartbeats or reports
    (claimed,) = await runner.backend.claim(["default"], 1, "dead-worker", 0.05)
    assert claimed.id == rescued.id
    await anyio.sleep(0.1)
    async with runner.worker(reclaim_interval=0.02):
        with pytest.raises(JobFailed) as failed:
            await rescued.result(timeout=5)
    assert failed.value.error is not None and failed.value.error.type == "LeaseExpired"


async def test_graceful_stop_lets_running_jobs_finish_within_grace() -> None:
    runner = runner_on()
    started = anyio.Event()

    @runner.task
    async def finishing() -> str:
        started.set()
        await anyio.sleep(0.2)
        return "done"

    job = await finishing.enqueue()
    async with runner.worker(grace=10) as worker:
        await started.wait()
        worker.stop()
        more = await finishing.enqueue()  # enqueued after the stop: not claimed
    assert await job.result(timeout=1) == "done"
    assert (await runner.get_job(more.id)).state is JobState.QUEUED
    assert worker.counters.released == 0


async def test_jobs_outlasting_grace_are_put_back_without_using_an_attempt() -> None:
    runner = runner_on()
    started = anyio.Event()

    @runner.task(retries=0)
    async def stuck() -> None:
        started.set()
        await anyio.sleep(60)

    job = await stuck.enqueue()
    async with runner.worker(grace=0.1) as worker:
        await started.wait()
    assert worker.counters.released == 1
    info = await runner.get_job(job.id)
    assert info.state is JobState.QUEUED
    assert (info.attempt, info.max_attempts) == (1, 2)


async def test_immediate_stop_puts_jobs_back_at_once() -> None:
    runner = runner_on()
    started = anyio.Event()

    @runner.task
    async def stuck() -> None:
        started.set()
        await anyio.sleep(60)

    job = await stuck.enqueue()
    worker = runner.worker(grace=60)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await started.wait()
        worker.stop()
        await anyio.sleep(0.05)
        assert worker.running == 1  # still within its grace
        worker.stop(immediate=True)
    assert (await runner.get_job(job.id)).state is JobState.QUEUED


async def test_put_back_jobs_run_on_the_next_worker() -> None:
    runner = runner_on()
    first_run = anyio.Event()
    runs: list[int] = []

    @runner.task(retries=0)
    async def resumable() -> str:
        runs.append(current_job().attempt)
        if len(runs) == 1:
            first_run.set()
            await anyio.sleep(60)
        return "finished"

    job = await resumable.enqueue()
    async with runner.worker(grace=0):
        await first_run.wait()
    await drain(runner)
    assert await job.result(timeout=1) == "finished"
    assert runs == [1, 2]


async def test_startup_and_shutdown_hooks_share_resources_with_tasks() -> None:
    runner = runner_on()
    events: list[str] = []

    @runner.on_startup
    async def open_pool(state: Any) -> None:
        events.append("startup")
        state.pool = {"connections": 3}

    @runner.on_shutdown
    async def close_pool(state: Any) -> None:
        events.append("shutdown")
        state.pool = None

    @runner.task
    async def uses_pool() -> int:
        return int(runner.state.pool["connections"])

    job = await uses_pool.enqueue()
    async with runner.worker(), runner.worker():  # two workers: hooks run once
        assert await job.result(timeout=5) == 3
    assert events == ["startup", "shutdown"]


async def test_a_failing_startup_hook_surfaces_from_the_embedded_worker() -> None:
    runner = runner_on()

    @runner.on_startup
    async def broken(state: Any) -> None:
        raise RuntimeError("database is down")

    with pytest.raises(RuntimeError, match="database is down"):
        async with runner.worker():
            pass


async def test_outcomes_are_reported_in_batches() -> None:
    backend = MemoryBackend()
    batches: list[int] = []
    original = backend.finish

    async def counting_finish(outcomes: Any) -> list[bool]:
        batches.append(len(outcomes))
        return await original(outcomes)

    backend.finish = counting_finish  # type: ignore[method-assign]
    runner = runner_on(backend)

    @runner.task
    async def noop() -> None:
        return None

    await runner.enqueue_many(noop.prepare() for _ in range(200))
    await drain(runner, concurrency=50)
    assert sum(batches) == 200
    assert len(batches) < 200 / 2


async def test_worker_reads_queues_of_registered_tasks_by_default() -> None:
    runner = runner_on()

    @runner.task(queue="feeds")
    async def fetch() -> None:
        return None

    @runner.task(queue="mail")
    async def mail() -> None:
        return None

    assert runner.worker().queues == ("default", "feeds", "mail")
    assert runner.worker(queues=["mail"]).queues == ("mail",)
    fetched = await fetch.enqueue()
    await drain(runner, queues=("mail",))
    assert (await runner.get_job(fetched.id)).state is JobState.QUEUED


async def test_lower_priority_number_runs_first() -> None:
    runner = runner_on()
    order: list[str] = []

    @runner.task
    async def record(name: str) -> None:
        order.append(name)

    await record.options(priority=5).enqueue("later")
    await record.enqueue("normal")
    await record.options(priority=-1).enqueue("urgent")
    await drain(runner, concurrency=1)
    assert order == ["urgent", "normal", "later"]


async def test_delayed_job_is_scheduled_then_runs() -> None:
    runner = runner_on()

    @runner.task
    async def remind() -> str:
        return "reminded"

    job = await remind.options(delay=0.2).enqueue()
    info = await runner.get_job(job.id)
    assert info.state is JobState.SCHEDULED
    assert (info.run_at - info.enqueued_at).total_seconds() == pytest.approx(0.2, abs=0.01)
    async with runner.worker():
        assert await job.result(timeout=5) == "reminded"


async def test_prepare_encodes_the_call_as_enqueue_stores_it() -> None:
    runner = runner_on()

    @runner.task
    async def echo(*args: Any, **kwargs: Any) -> list[Any]:
        return [list(args), kwargs]

    prepared = echo.prepare(1, "a", key=None)
    assert prepared.new.payload == encode_payload((1, "a"), {"key": None})


def test_worker_settings_reject_bad_values() -> None:
    runner = TaskRunner("memory://")
    from taskrunner import ConfigurationError

    with pytest.raises(ConfigurationError, match="concurrency"):
        runner.worker(concurrency=0)
    with pytest.raises(ConfigurationError, match="queue name"):
        runner.worker(queues=["bad queue"])
    with pytest.raises(ConfigurationError, match="heartbeat"):
        runner.worker(lease=1, heartbeat=2)


async def test_the_last_progress_report_is_kept_when_the_task_ends_at_once() -> None:
    runner = runner_on()

    @runner.task
    async def quick_import() -> None:
        current_job().report_progress(10, 10, "all rows imported")

    job = await quick_import.enqueue()
    await drain(runner)
    progress = (await runner.get_job(job.id)).progress
    assert progress is not None
    assert (progress.done, progress.total, progress.message) == (10, 10, "all rows imported")


def test_a_runner_built_on_a_backend_reports_its_url() -> None:
    backend = MemoryBackend("memory://reports")
    assert TaskRunner(backend=backend).url == "memory://reports"


async def test_burst_waits_for_a_retry_reported_while_a_claim_was_answering() -> None:
    """An empty claim that was read before an outcome landed says nothing about the retry
    that outcome made due: a burst worker claims again instead of leaving."""

    class SlowAnswers(MemoryBackend):
        async def claim(self, *args: Any, **kwargs: Any) -> Any:
            records = await super().claim(*args, **kwargs)  # read now...
            await anyio.sleep(0.05)  # ...answered late, after the outcome below landed
            return records

        async def finish(self, outcomes: Any) -> list[bool]:
            await anyio.sleep(0.01)
            return await super().finish(outcomes)

    runner = runner_on(SlowAnswers())

    @runner.task(retries=1, backoff=0)
    async def flaky() -> str:
        if current_job().attempt == 1:
            raise ConnectionError("first attempt fails")
        return "ok"

    job = await flaky.enqueue()
    await drain(runner)
    assert await job.result(timeout=1) == "ok"


async def test_burst_claims_once_more_before_leaving_on_an_empty_claim() -> None:
    """A claim may pass over a due job that another transaction holds for a moment (on
    Postgres, SKIP LOCKED passes a row that a heartbeat, racing the job's retry, still
    locks): a burst worker that found nothing claims once more before it leaves."""

    class PassesOverOnce(MemoryBackend):
        passed_over = False

        async def claim(self, *args: Any, **kwargs: Any) -> Any:
            if not self.passed_over:
                self.passed_over = True
                return []
            return await super().claim(*args, **kwargs)

    backend = PassesOverOnce()
    runner = runner_on(backend)

    @runner.task
    async def noop() -> str:
        return "ok"

    job = await noop.enqueue()
    report = await drain(runner)
    assert backend.passed_over and len(report) == 1
    assert (await runner.get_job(job.id)).state is JobState.SUCCEEDED


async def test_claims_wait_while_the_backend_is_slow_to_take_outcomes() -> None:
    """Jobs that end faster than the backend takes their outcomes do not pile up: beyond
    `UNREPORTED_AHEAD` unreported, claims wait for the reports (the outbox, and so each
    finish call, stays bounded)."""
    backend = MemoryBackend()
    claimed: list[int] = []
    finishes: list[int] = []
    reports_open = anyio.Event()
    claim, finish = backend.claim, backend.finish

    async def counting_claim(*args: Any, **kwargs: Any) -> Any:
        records = await claim(*args, **kwargs)
        claimed.append(len(records))
        return records

    async def slow_finish(outcomes: Any) -> list[bool]:
        finishes.append(len(outcomes))
        await reports_open.wait()
        return await finish(outcomes)

    backend.claim = counting_claim  # type: ignore[method-assign]
    backend.finish = slow_finish  # type: ignore[method-assign]
    runner = runner_on(backend)

    @runner.task
    async def noop() -> None:
        return None

    total, bound = 2 * UNREPORTED_AHEAD, UNREPORTED_AHEAD + 50
    jobs = await runner.enqueue_many(noop.prepare() for _ in range(total))
    async with runner.worker(concurrency=50) as worker:
        try:
            await eventually(lambda: sum(claimed) >= bound)
            await anyio.sleep(0.2)  # the claim loop gets every chance to take more
            held = (sum(claimed), worker.running)
        finally:
            reports_open.set()  # else the worker's last flush would wait forever
        for job in jobs:
            await job.result(timeout=10)
    assert held == (bound, 0)
    assert sum(finishes) == total
    assert max(finishes) <= bound


@pytest.mark.parametrize("factory", [False, True], ids=["plain-loop", "task-factory"])
async def test_each_attempt_runs_in_a_task_of_its_own_named_after_its_job(factory: bool) -> None:
    loop = asyncio.get_running_loop()
    made: list[asyncio.Task[Any]] = []

    def make(loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> asyncio.Task[Any]:
        made.append(task := asyncio.Task(coro, loop=loop, **options))
        return task

    if factory:
        loop.set_task_factory(make)
    try:
        await _look_at_the_tasks_of_three_jobs()
    finally:
        loop.set_task_factory(None)
    assert (len(made) >= 3) is factory


async def _look_at_the_tasks_of_three_jobs() -> None:
    runner = runner_on()
    seen: list[tuple[str, str]] = []

    @runner.task
    async def look() -> None:
        task = asyncio.current_task()
        assert task is not None
        seen.append((current_job().id, task.get_name()))

    jobs = await runner.enqueue_many(look.prepare() for _ in range(3))
    await drain(runner)
    assert sorted(seen) == sorted((job.id, job.id) for job in jobs)


async def test_a_stopping_worker_lets_a_report_in_flight_end_and_sends_it_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The backend applies a report, then is slow to answer; the worker stops meanwhile. The
    report is let end, not cancelled and sent again (the backend would refuse the copy,
    and the worker warn of an outcome rejected)."""
    applied = anyio.Event()
    reports: list[int] = []

    class SlowToAnswer(MemoryBackend):
        async def finish(self, outcomes: Any) -> list[bool]:
            reports.append(len(outcomes))
            accepted = await super().finish(outcomes)
            applied.set()
            await anyio.sleep(0.3)
            return accepted

    backend = SlowToAnswer()
    runner = runner_on(backend)

    @runner.task
    async def noop() -> None:
        return None

    job = await noop.enqueue()
    async with runner.worker(concurrency=1) as worker:
        await applied.wait()
        worker.stop()
    assert reports == [1]
    assert worker.counters.rejected == 0
    assert "rejected" not in caplog.text
    assert (await runner.get_job(job.id)).state is JobState.SUCCEEDED
