"""Assertions about what a runner's backend holds, and the messages they fail with."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest.mock import ANY

import pytest

from taskrunner import AsyncTask, InvalidArguments, JobState, TaskRunner, every
from taskrunner.testing import (
    Harness,
    assert_enqueued,
    assert_no_failures,
    assert_not_enqueued,
    assert_nothing_queued,
    enqueued,
)


def shop(runner: TaskRunner) -> tuple[AsyncTask[..., None], AsyncTask[..., None]]:
    @runner.task(name="shop.send_receipt")
    async def send_receipt(order_id: int, email: str, copies: int = 1) -> None:
        return None

    @runner.task(name="shop.restock", retries=1, backoff=60)
    async def restock(sku: str, quantities: tuple[int, ...]) -> None:
        if sku == "broken":
            raise LookupError(f"no such sku: {sku}")

    return send_receipt, restock


async def test_a_call_matches_however_its_arguments_were_written(
    taskrunner_runner: TaskRunner,
) -> None:
    send_receipt, restock = shop(taskrunner_runner)
    await send_receipt.enqueue(42, email="ada@example.com")
    await restock.enqueue("tea", (1, 2))

    info = await assert_enqueued(taskrunner_runner, send_receipt, 42, "ada@example.com")
    assert info.args == [42] and info.state is JobState.QUEUED
    await assert_enqueued(taskrunner_runner, send_receipt, order_id=42, email=ANY, copies=1)
    await assert_enqueued(taskrunner_runner, "shop.send_receipt", 42, email="ada@example.com")
    await assert_enqueued(taskrunner_runner, restock, "tea", (1, 2))
    await assert_enqueued(taskrunner_runner, restock, "tea", [1, 2])
    with pytest.raises(InvalidArguments):  # a call the task could not take is a typo
        await assert_enqueued(taskrunner_runner, send_receipt, 42, mail="ada@example.com")


async def test_a_missing_call_lists_what_was_enqueued_instead(
    taskrunner_harness: Harness,
) -> None:
    send_receipt, restock = shop(taskrunner_harness.runner)
    await send_receipt.enqueue(42, "ada@example.com", copies=2)
    await restock.options(delay=600).enqueue("tea", (1,))

    with pytest.raises(AssertionError) as raised:
        await taskrunner_harness.assert_enqueued(send_receipt, 43, "ada@example.com")
    due = taskrunner_harness.clock.now + timedelta(minutes=10)
    assert str(raised.value) == (
        "no job shop.send_receipt(43, 'ada@example.com') was enqueued; the jobs enqueued:\n"
        "  shop.send_receipt(42, 'ada@example.com', copies=2)  queued\n"
        f"  shop.restock('tea', [1])  scheduled for {due.isoformat()}"
    )
    (stored,) = await enqueued(taskrunner_harness.runner, restock)
    assert stored.run_at == due
    await taskrunner_harness.assert_not_enqueued("shop.refund")
    with pytest.raises(AssertionError, match=r"^1 job\(s\) of shop.restock enqueued:\n"):
        await assert_not_enqueued(taskrunner_harness.runner, restock)
    assert [job.task for job in await taskrunner_harness.enqueued()] == [
        "shop.send_receipt",
        "shop.restock",
    ]


async def test_no_failures_means_none_failed_and_none_waits_to_retry(
    taskrunner_harness: Harness,
) -> None:
    harness = taskrunner_harness
    _, restock = shop(harness.runner)
    await restock.enqueue("tea", (1,))
    await harness.drain()
    await harness.assert_no_failures()

    await restock.enqueue("broken", (1,))
    await harness.drain()  # the first attempt raised; the retry waits a minute
    with pytest.raises(AssertionError) as raised:
        await assert_no_failures(harness.runner)
    message = str(raised.value)
    assert message.startswith(
        "1 job(s) failed:\n  shop.restock('broken', [1])  attempt 1 raised LookupError: "
        "no such sku: broken; the next is due "
    )
    assert "the first one's traceback:\nTraceback (most recent call last):" in message

    await harness.advance(minutes=1)
    with pytest.raises(AssertionError, match=re.escape("failed after 2 attempt(s): LookupError")):
        await harness.assert_no_failures()


async def test_nothing_queued_counts_every_unfinished_job_but_ticks(
    taskrunner_harness: Harness,
) -> None:
    harness = taskrunner_harness
    send_receipt, _ = shop(harness.runner)

    @harness.runner.task(schedule=every(minutes=5))
    async def report() -> None:
        return None

    await harness.advance(minutes=5)  # a tick ran; the next one waits
    await assert_nothing_queued(harness.runner)
    first = await send_receipt.enqueue(1, "a@example.com")
    await send_receipt.options(after=[first]).enqueue(2, "b@example.com")
    with pytest.raises(AssertionError) as raised:
        await harness.assert_nothing_queued()
    assert str(raised.value) == (
        "2 job(s) not finished:\n"
        "  shop.send_receipt(1, 'a@example.com')  queued\n"
        "  shop.send_receipt(2, 'b@example.com')  waiting"
    )
    await harness.drain()
    await harness.assert_nothing_queued()
