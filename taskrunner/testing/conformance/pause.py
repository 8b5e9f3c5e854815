"""Conformance tests of pausing queues (`QueuePausing`, where a backend has it)."""

from __future__ import annotations

import anyio
import pytest

from taskrunner.backend import Backend, JobState, QueuePausing
from taskrunner.queries import stats
from taskrunner.testing.conformance.helpers import (
    IDLE_POLL,
    ON_TIME,
    SHORT,
    WORKER,
    Suite,
    new_job,
    state_of,
)


def pausing(backend: Backend) -> QueuePausing:
    if not isinstance(backend, QueuePausing):
        pytest.skip("the backend cannot pause queues (no QueuePausing)")
    return backend


class PauseTests(Suite):
    """Pause and resume: claims skip paused queues, the pause is kept in the store."""

    async def test_a_paused_queue_gives_no_jobs_while_others_do(self, backend: Backend) -> None:
        pauses = pausing(backend)
        held, free = new_job(queue="held"), new_job(queue="free")
        await backend.enqueue([held, free])
        await pauses.pause(["held"])
        claimed = await backend.claim(["held", "free"], 10, WORKER, 30)
        assert [r.id for r in claimed] == [free.id]
        assert await backend.claim(["held"], 10, WORKER, 30) == []
        assert await state_of(backend, held.id) is JobState.QUEUED

    async def test_resume_makes_the_jobs_claimable(self, backend: Backend) -> None:
        pauses = pausing(backend)
        job = new_job(queue="held")
        await pauses.pause(["held"])
        await pauses.pause(["held"])  # twice: still paused, no error
        assert (await backend.enqueue([job])) == [job.id]  # enqueues still succeed
        assert await backend.claim(["held"], 10, WORKER, 30) == []
        await pauses.resume(["held"])
        await pauses.resume(["held", "never-paused"])  # twice, and a running queue: no error
        assert [r.id for r in await backend.claim(["held"], 10, WORKER, 30)] == [job.id]

    async def test_paused_lists_the_paused_queues_empty_ones_too(self, backend: Backend) -> None:
        pauses = pausing(backend)
        assert await pauses.paused() == []
        await backend.enqueue([new_job(queue="busy")])
        await pauses.pause(["zeta", "busy", "alpha"])
        assert await pauses.paused() == ["alpha", "busy", "zeta"]
        await pauses.resume(["zeta"])
        assert await pauses.paused() == ["alpha", "busy"]

    async def test_stats_mark_paused_queues(self, backend: Backend) -> None:
        pauses = pausing(backend)
        await backend.enqueue([new_job(queue="busy"), new_job(queue="open")])
        await pauses.pause(["busy", "empty"])
        found = await stats(backend, None, 60)
        assert found["busy"].paused and found["empty"].paused
        assert not found["open"].paused
        assert found["busy"][JobState.QUEUED] == 1
        assert sum(found["empty"].values()) == 0
        assert set(await stats(backend, ["open"], 60)) == {"open"}

    async def test_the_pause_is_kept_in_the_store(self, backend: Backend, peer: Backend) -> None:
        pausing(backend)
        pauses = pausing(peer)
        job = new_job(queue="held")
        await backend.enqueue([job])
        await pauses.pause(["held"])
        assert await pausing(backend).paused() == ["held"]
        assert await backend.claim(["held"], 10, WORKER, 30) == []
        await pauses.resume(["held"])
        assert [r.id for r in await backend.claim(["held"], 10, WORKER, 30)] == [job.id]

    async def test_an_idle_worker_waits_on_a_paused_queue_and_wakes_on_resume(
        self, backend: Backend, peer: Backend
    ) -> None:
        pausing(backend)
        pauses = pausing(peer)
        job = new_job(queue="held")
        await backend.enqueue([job])
        await pauses.pause(["held"])
        rounds, claimed = 0, anyio.Event()

        async def worker() -> None:  # claims, and waits when it finds nothing
            nonlocal rounds
            while not await backend.claim(["held"], 1, WORKER, 30):
                rounds += 1
                await backend.wait(["held"], IDLE_POLL)
            claimed.set()

        with anyio.fail_after(IDLE_POLL / 2):  # the bound that proves resume ended the wait
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(worker)
                await anyio.sleep(2 * SHORT)
                # due jobs of a paused queue wake nobody (a wake-up left by the enqueue may)
                assert rounds <= 2 and not claimed.is_set()
                await pauses.resume(["held"])
                with anyio.fail_after(ON_TIME):
                    await claimed.wait()
        assert await state_of(backend, job.id) is JobState.RUNNING
