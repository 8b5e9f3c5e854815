"""`get_job` says what holds a job that could run now (`JobInfo.held_by`): a paused queue,
or no live worker on its queue; on memory, Redis and Postgres."""

from __future__ import annotations

import anyio

from taskrunner import Hold, HoldKind, JobState, TaskRunner
from taskrunner.backend import QueuePausing
from tests.helpers import eventually


def make_runner(url: str) -> TaskRunner:
    runner = TaskRunner(url)

    @runner.task(name="held.send", queue="emails")
    async def send(to: str) -> str:
        return to

    @runner.task(name="held.other", queue="other")
    async def other() -> None:
        return None

    return runner


async def hold_of(runner: TaskRunner, job_id: str) -> Hold | None:
    return (await runner.get_job(job_id)).held_by


async def check_held_by(url: str) -> None:
    async with make_runner(url) as runner:
        send = runner.tasks["held.send"]
        # no worker at all: nothing takes the queue
        free = await send.enqueue("a@example.com")
        assert await hold_of(runner, free.id) == Hold(
            HoldKind.NO_WORKER, "no worker takes queue 'emails'"
        )
        # a paused queue says so first; list views do not ask
        await runner.pause("emails")
        held = await send.enqueue("b@example.com")
        paused = Hold(HoldKind.PAUSED, "its queue 'emails' is paused")
        assert await hold_of(runner, held.id) == paused
        assert str(paused) == "its queue 'emails' is paused"
        page = await runner.list_jobs(queue="emails")
        assert [j.held_by for j in page.jobs] == [None, None]
        assert [j and j.held_by for j in await runner.get_jobs([held.id])] == [None]
        # a scheduled job not due yet is not held: its run_at says when
        later = await send.options(delay=3600).enqueue("c@example.com")
        info = await runner.get_job(later.id)
        assert info.state is JobState.SCHEDULED and info.held_by is None
        # a due scheduled job of a paused queue is held
        soon = await send.options(delay=0.2).enqueue("d@example.com")
        await anyio.sleep(0.3)
        assert await hold_of(runner, soon.id) == paused

        async with runner.worker(queues=["other"], poll=60):
            # a worker on other queues only: still nobody takes 'emails'
            await runner.resume("emails")

            async def no_worker() -> bool:
                hold = await hold_of(runner, held.id)
                return hold is not None and hold.kind is HoldKind.NO_WORKER

            await eventually(no_worker)
            await runner.pause("emails")
        async with runner.worker(queues=["emails"], poll=60):
            await anyio.sleep(0.3)
            info = await runner.get_job(held.id)
            assert info.state is JobState.QUEUED and info.held_by == paused
            await runner.resume("emails")
            with anyio.fail_after(10):
                assert await held.result() == "b@example.com"
                await soon.result()
            info = await runner.get_job(held.id)
            assert info.state is JobState.SUCCEEDED and info.held_by is None


async def test_get_job_says_what_holds_a_job_in_memory() -> None:
    await check_held_by("memory://")


async def test_get_job_says_what_holds_a_job(shared_url: str) -> None:
    await check_held_by(shared_url)


async def test_nothing_is_asked_of_a_backend_without_the_abilities() -> None:
    """A backend that neither pauses nor keeps a worker registry: no hold is known."""
    from taskrunner.memory import MemoryBackend

    class Plain:  # only the Backend methods get_job uses, by delegation
        def __init__(self) -> None:
            self.inner = MemoryBackend()

        def __getattr__(self, name: str) -> object:
            if name in {"pause", "resume", "paused", "list_jobs", "activity", "workers"}:
                raise AttributeError(name)
            return getattr(self.inner, name)

    plain = Plain()
    assert not isinstance(plain, QueuePausing)
    runner = TaskRunner("memory://", backend=plain)  # type: ignore[arg-type]

    @runner.task
    async def noop() -> None:
        return None

    job = await noop.enqueue()
    assert (await runner.get_job(job.id)).held_by is None
