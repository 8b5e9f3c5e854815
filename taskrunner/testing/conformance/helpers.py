"""What the conformance tests share: the base of every test class, the time constants, and
small steps (a new job, a claim, a few finished jobs that expire soon)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from taskrunner.backend import (
    Backend,
    JobRecord,
    JobState,
    NewJob,
    Outcome,
    OutcomeKind,
    new_job_id,
)

SHORT = 0.3  # a lease or delay that runs out during a test
DUE_IN = 0.7  # a job written while a worker waits falls due this much later
IDLE_POLL = 30.0  # the longest an idle worker waits in the tests of due times
ON_TIME = 1.5  # slack after a due time, far below IDLE_POLL: proves the wait ended by itself
# a due time in the year 160,000: the core refuses it, but plain SQL or an older version may
# have stored it, and reads must neither fail nor move it
BEYOND_YEAR_9999 = 5e12
WORKER = "worker-a"


@pytest.mark.anyio
class Suite:
    """The base of the conformance test classes: coroutine tests on asyncio."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"


def new_job(task: str = "tests.noop", **fields: Any) -> NewJob:
    """A NewJob with a fresh id and sensible defaults, for backend tests."""
    fields.setdefault("queue", "default")
    fields.setdefault("payload", b'{"args":[],"kwargs":{}}')
    fields.setdefault("max_attempts", 3)
    return NewJob(id=new_job_id(), task=task, **fields)


async def claim_one(
    backend: Backend, queue: str = "default", lease: float = 30.0, worker: str = WORKER
) -> JobRecord:
    (record,) = await backend.claim([queue], 1, worker, lease)
    return record


async def finish_expiring(backend: Backend) -> list[NewJob]:
    """Three jobs with dedup keys, each ended with a retention of SHORT seconds: one
    succeeded, one failed, and one cancelled while it waited."""
    done, failed, cancelled = (new_job(key=f"expiring:{n}") for n in range(3))
    await backend.enqueue([done, failed, cancelled])
    await backend.cancel([cancelled.id], ttl=SHORT)
    await backend.claim(["default"], 2, WORKER, 30)
    await backend.finish(
        [
            Outcome(done.id, 1, OutcomeKind.SUCCEEDED, result=b"1", ttl=SHORT),
            Outcome(failed.id, 1, OutcomeKind.FAILED, error=b"{}", ttl=SHORT),
        ]
    )
    return [done, failed, cancelled]


async def state_of(backend: Backend, job_id: str) -> JobState | None:
    (record,) = await backend.get([job_id])
    return None if record is None else record.state


async def enqueue_racing(backend: Backend, rivals: list[NewJob]) -> set[str]:
    """Enqueue each job alone and all at once; answers the ids the enqueues answered."""
    answers: list[list[str]] = []

    async def enqueue(job: NewJob) -> None:
        answers.append(await backend.enqueue([job]))

    async with anyio.create_task_group() as tg:
        for job in rivals:
            tg.start_soon(enqueue, job)
    return {answer for (answer,) in answers}
