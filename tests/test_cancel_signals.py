"""Cancelling a running job reaches its worker at once, not at the worker's next heartbeat.

The workers of the first tests renew their leases every 20 s (lease 60 s): a job stopped a
few seconds after `runner.cancel()` was stopped by the pushed signal (`CancelSignals`). On
Redis and Postgres the cancel comes from another runner, with a backend of its own, as from
another process. The last tests take the push away: the heartbeat still stops the job.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import pytest

from taskrunner import BackendError, JobFailed, JobState, TaskRunner
from taskrunner.backend import Backend, CancelSignals, Fanout
from taskrunner.memory import MemoryBackend
from taskrunner_postgres import PostgresBackend
from taskrunner_redis import RedisBackend
from taskrunner_sqlite import SqliteBackend

SLOW_BEATS = {"lease": 60.0, "scheduler": False}  # a beat every 20 s
FAST_BEATS = {"lease": 1.5, "scheduler": False}  # a beat every 0.5 s
PROMPTLY = 5.0  # seconds: well within the slow heartbeat, and enough on a loaded machine


class Sleepers:
    """Runners on one store, each with the `sleep` task; `started` is set once a job of it
    runs (in whichever runner: they all live in this process)."""

    def __init__(self) -> None:
        self.started = anyio.Event()

    def runner(self, url: str, backend: Backend | None = None) -> TaskRunner:
        runner = TaskRunner(url, backend=backend)

        @runner.task(name="sleep")
        async def sleep() -> None:
            self.started.set()
            await anyio.sleep(3600)

        return runner

    async def cancel_while_running(
        self, worker_runner: TaskRunner, canceller: TaskRunner, **settings: Any
    ) -> None:
        """Run a sleeping job on a worker of `worker_runner`, cancel it through `canceller`,
        and check that it ends cancelled within PROMPTLY seconds."""
        async with worker_runner.worker(**settings) as worker:
            await anyio.sleep(1.0)  # past the beat a worker makes as it starts
            job = await canceller.tasks["sleep"].enqueue()
            with anyio.fail_after(30):
                await self.started.wait()
            assert await canceller.cancel(job.id) is JobState.RUNNING
            with pytest.raises(JobFailed, match="cancelled"):
                await job.result(timeout=PROMPTLY)
            assert worker.counters.cancelled == 1
        assert (await canceller.get_job(job.id)).state is JobState.CANCELLED


@pytest.fixture
def sleepers() -> Sleepers:
    return Sleepers()


async def test_a_cancel_stops_a_running_job_at_once_in_process(sleepers: Sleepers) -> None:
    runner = sleepers.runner("memory://", MemoryBackend())
    await sleepers.cancel_while_running(runner, runner, **SLOW_BEATS)


async def test_a_cancel_from_another_runner_stops_a_running_job_at_once(
    sleepers: Sleepers, shared_url: str
) -> None:
    worker_runner, canceller = sleepers.runner(shared_url), sleepers.runner(shared_url)
    assert worker_runner.backend is not canceller.backend
    async with worker_runner, canceller:
        await sleepers.cancel_while_running(worker_runner, canceller, **SLOW_BEATS)


# -- without the push ----------------------------------------------------------------------


def nothing_heard() -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
    """A subscription that is up but hears nothing, as when every notification is lost."""
    return Fanout().inbox()


class MissingMemory(MemoryBackend):
    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        return nothing_heard()


class MissingRedis(RedisBackend):
    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        return nothing_heard()


class MissingPostgres(PostgresBackend):
    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        return nothing_heard()


class MissingSqlite(SqliteBackend):
    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        return nothing_heard()


class FailingMemory(MemoryBackend):
    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        raise BackendError("listening for cancel requests: connection refused")


def deaf_backend(url: str) -> Backend:
    """A backend of `url`'s kind (Redis, Postgres or SQLite) whose workers never hear a
    cancel."""
    if url.startswith("sqlite"):
        return MissingSqlite(url)
    return MissingRedis(url) if url.startswith("redis") else MissingPostgres(url)


async def test_a_missed_signal_is_caught_by_the_heartbeat(
    sleepers: Sleepers, shared_url: str
) -> None:
    backend = deaf_backend(shared_url)
    assert isinstance(backend, CancelSignals)
    worker_runner, canceller = sleepers.runner(shared_url, backend), sleepers.runner(shared_url)
    async with worker_runner, canceller:
        await sleepers.cancel_while_running(worker_runner, canceller, **FAST_BEATS)


async def test_a_missed_signal_is_caught_by_the_heartbeat_in_process(sleepers: Sleepers) -> None:
    runner = sleepers.runner("memory://", MissingMemory())
    await sleepers.cancel_while_running(runner, runner, **FAST_BEATS)


async def test_a_worker_whose_signals_fail_still_cancels_by_heartbeat(
    sleepers: Sleepers, caplog: pytest.LogCaptureFixture
) -> None:
    runner = sleepers.runner("memory://", FailingMemory())
    with caplog.at_level(logging.WARNING, logger="taskrunner.worker"):
        await sleepers.cancel_while_running(runner, runner, **FAST_BEATS)
    assert "listening for cancel requests failed" in caplog.text
