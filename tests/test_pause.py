"""Pausing queues through the runner and an embedded worker (on the memory backend; the
backend rules are in the conformance suite, the commands in test_cli_ops.py)."""

from __future__ import annotations

import anyio
import pytest

from taskrunner import ConfigurationError, InvalidName, JobState
from taskrunner.memory import MemoryBackend
from tests.helpers import runner_on


async def test_a_worker_skips_a_paused_queue_until_it_is_resumed() -> None:
    runner = runner_on()
    ran: list[str] = []

    @runner.task(queue="emails")
    async def send(to: str) -> None:
        ran.append(to)

    @runner.task
    async def other() -> None:
        ran.append("other")

    await runner.pause("emails")
    held = await send.enqueue("a@example.com")
    # a poll far longer than the test: only the resume can wake the idle worker
    async with runner.worker(queues=["emails", "default"], poll=60):
        await (await other.enqueue()).result(timeout=10)
        await anyio.sleep(0.2)
        assert (await held.info()).state is JobState.QUEUED and ran == ["other"]
        assert await runner.paused() == ["emails"]
        stats = await runner.stats()
        assert stats["emails"].paused and not stats["default"].paused
        await runner.resume("emails")
        with anyio.fail_after(10):
            await held.result(timeout=10)
    assert ran == ["other", "a@example.com"]
    assert await runner.paused() == []


async def test_a_running_job_finishes_when_its_queue_is_paused() -> None:
    runner = runner_on()
    started, release = anyio.Event(), anyio.Event()

    @runner.task
    async def slow() -> str:
        started.set()
        await release.wait()
        return "done"

    job = await slow.enqueue()
    async with runner.worker():
        await started.wait()
        await runner.pause("default")
        waiting = await slow.enqueue()  # enqueues still succeed
        release.set()
        assert await job.result(timeout=10) == "done"
        await anyio.sleep(0.2)
        assert (await waiting.info()).state is JobState.QUEUED
        await runner.resume("default")
        release.set()
        assert await waiting.result(timeout=10) == "done"


class CannotPause(MemoryBackend):
    pause = None  # type: ignore[assignment]  # not QueuePausing


async def test_pausing_needs_a_backend_that_can() -> None:
    runner = runner_on(CannotPause())
    with pytest.raises(ConfigurationError, match="cannot pause queues"):
        await runner.pause("emails")
    with pytest.raises(ConfigurationError, match="cannot pause queues"):
        await runner.paused()
    assert not (await runner.stats()).get("emails")


async def test_queue_names_are_checked_before_anything_is_written() -> None:
    runner = runner_on()
    with pytest.raises(InvalidName):
        await runner.pause("no spaces")
    with pytest.raises(InvalidName):
        await runner.resume("")
    assert await runner.paused() == []
