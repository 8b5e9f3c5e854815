"""A worker's outbox: outcomes held until the backend has them, the flush loop woken
whenever some wait."""

from __future__ import annotations

from taskrunner.backend import NewJob, Outcome, OutcomeKind, new_job_id
from taskrunner.memory import MemoryBackend
from taskrunner.worker.outbox import Outbox


async def test_the_flush_loop_is_woken_once_per_batch_of_waiting_outcomes() -> None:
    backend = MemoryBackend()
    jobs = [NewJob(new_job_id(), "o.any", "default", b'{"args":[]}') for _ in range(3)]
    await backend.enqueue(jobs)
    records = await backend.claim(["default"], 3, "worker-a", 30)
    first, second, third = (
        Outcome(r.id, r.attempt, OutcomeKind.SUCCEEDED, queue=r.queue) for r in records
    )
    outbox = Outbox()
    outbox.add(first)
    assert outbox.wake.is_set()
    outbox.wake.clear()  # as the flush loop does, right before it takes every pending one
    outbox.add(second)  # joins the first: the flush takes both
    assert not outbox.wake.is_set()
    assert await outbox.flush_once(backend) == 0
    assert outbox.pending == [] and [
        j.state.value for j in await backend.get([r.id for r in records[:2]]) if j
    ] == ["succeeded", "succeeded"]
    outbox.add(third)  # nothing pending any more: this one wakes the loop again
    assert outbox.wake.is_set() and outbox.pending == [third]
