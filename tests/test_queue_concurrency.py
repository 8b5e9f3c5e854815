"""Per-queue concurrency inside one worker (`queues={"emails": 5, ...}`), on memory."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import pytest

from taskrunner import ConfigurationError, TaskRunner, WorkerSettings
from taskrunner.memory import MemoryBackend
from taskrunner.worker.slots import QueueSlots
from tests.helpers import eventually, runner_on
from tests.queue_peaks import check_queue_peaks


def gated_tasks(runner: TaskRunner, gate: anyio.Event, running: Counter[str]) -> dict[str, Any]:
    tasks = {}
    for queue in ("emails", "feeds"):

        async def hold(n: int, queue: str = queue) -> None:
            running[queue] += 1
            try:
                await gate.wait()
            finally:
                running[queue] -= 1

        tasks[queue] = runner.task(name=f"hold_{queue}", queue=queue)(hold)
    return tasks


async def enqueue_both(tasks: dict[str, Any], each: int) -> list[Any]:
    return [await task.enqueue(n) for task in tasks.values() for n in range(each)]


async def test_each_queue_runs_up_to_its_limit_and_no_more() -> None:
    runner, gate, running = runner_on(), anyio.Event(), Counter[str]()
    jobs = await enqueue_both(gated_tasks(runner, gate, running), 10)
    async with runner.worker(queues={"emails": 2, "feeds": 3}) as worker:
        assert worker.settings.concurrency == 5  # the sum of the limits
        await eventually(lambda: running == Counter(emails=2, feeds=3))
        await anyio.sleep(0.2)  # more claims would have started more by now
        assert running == Counter(emails=2, feeds=3)
        gate.set()
        for job in jobs:
            await job.result(timeout=10)


async def test_the_total_concurrency_still_caps_the_queues() -> None:
    runner, gate, running = runner_on(), anyio.Event(), Counter[str]()
    jobs = await enqueue_both(gated_tasks(runner, gate, running), 10)
    async with runner.worker(queues={"emails": 3, "feeds": 3}, concurrency=4) as worker:
        await eventually(lambda: running.total() == 4)
        await anyio.sleep(0.2)
        assert running.total() == 4 and worker.running == 4
        assert running["emails"] <= 3 and running["feeds"] <= 3
        gate.set()
        for job in jobs:
            await job.result(timeout=10)


async def test_a_freed_slot_claims_again_for_its_queue_without_waiting_for_the_poll() -> None:
    runner = runner_on()
    gates = [anyio.Event() for _ in range(3)]
    started: list[int] = []

    @runner.task(queue="emails")
    async def send(n: int) -> None:
        started.append(n)
        await gates[n].wait()

    jobs = [await send.enqueue(n) for n in range(3)]
    # feeds has room and no job: the idle worker waits on it, for up to a minute
    async with runner.worker(queues={"emails": 1, "feeds": 5}, poll=60):
        await eventually(lambda: started == [0])
        await anyio.sleep(0.1)
        assert started == [0]
        gates[0].set()
        await eventually(lambda: started == [0, 1], timeout=5)
        gates[1].set()
        gates[2].set()
        for job in jobs:
            await job.result(timeout=5)


async def test_peaks_hold_with_many_jobs_on_two_queues() -> None:
    await check_queue_peaks(runner_on(), jobs_per_queue=100)


async def test_claims_ask_only_queues_with_room_and_share_a_call_when_they_can() -> None:
    backend = MemoryBackend()
    calls: list[tuple[tuple[str, ...], int]] = []
    original = backend.claim

    async def recording_claim(queues: Any, limit: int, *args: Any) -> Any:
        calls.append((tuple(queues), limit))
        return await original(queues, limit, *args)

    backend.claim = recording_claim  # type: ignore[method-assign, assignment]
    runner, gate, running = runner_on(backend), anyio.Event(), Counter[str]()
    jobs = await enqueue_both(gated_tasks(runner, gate, running), 5)
    async with runner.worker(queues={"emails": 10, "feeds": 10}, concurrency=4):
        await eventually(lambda: running.total() == 4)
        assert calls[0] == (("emails", "feeds"), 4)  # both have room for all 4: one call
        gate.set()
        for job in jobs:
            await job.result(timeout=10)
    for queues, limit in calls:
        assert queues and 1 <= limit <= 4


def test_plan_groups_queues_by_their_room_and_takes_turns() -> None:
    slots = QueueSlots(("a", "b", "c"), {"a": 2, "b": 5, "c": 5})
    assert slots.plan(10) == [(("a",), 2), (("b", "c"), 5)]
    assert slots.plan(10) == [(("b", "c"), 5), (("a",), 2)]  # the next round starts at b
    slots.taken("a")
    slots.taken("a")
    assert slots.open_queues() == ("b", "c")
    assert slots.plan(3) == [(("c", "b"), 3)]  # and the third at c
    assert slots.plan(0) == []
    assert QueueSlots(("a", "b"), None).plan(7) == [(("a", "b"), 7)]


def test_settings_take_names_or_limits() -> None:
    named = WorkerSettings(queues=["emails", "feeds"])
    assert named.queues == ("emails", "feeds") and named.queue_limits is None
    assert named.concurrency == 10
    limited = WorkerSettings(queues={"emails": 5, "feeds": 20})
    assert limited.queues == ("emails", "feeds")
    assert dict(limited.queue_limits or {}) == {"emails": 5, "feeds": 20}
    assert limited.concurrency == 25
    # a queue's limit above the total is allowed: the total still caps
    assert WorkerSettings(queues={"emails": 50}, concurrency=10).concurrency == 10
    assert WorkerSettings(queues={"emails": 5}, concurrency=10).concurrency == 10


@pytest.mark.parametrize(
    "queues",
    [
        {"emails": 0},
        {"emails": -1},
        {"emails": True},
        {"emails": "5"},
        {"emails": 2.0},
        {},
        {"bad name": 1},
        ["emails", "emails"],
        {"emails": 100_001},
    ],
)
def test_bad_queue_limits_are_refused(queues: Any) -> None:
    with pytest.raises(ConfigurationError):
        WorkerSettings(queues=queues)


async def test_the_start_log_line_shows_the_limits(caplog: pytest.LogCaptureFixture) -> None:
    runner = runner_on()
    caplog.set_level("INFO", logger="taskrunner.worker")
    worker = runner.worker(queues={"emails": 5, "feeds": 20}, burst=True)
    await worker.run()
    assert "queues emails=5,feeds=20, concurrency 25" in caplog.text
    assert "emails=5,feeds=20" in repr(worker)
