"""Claiming on the wake (wake_claims.py): an idle worker's pop with its claim queued behind
it, bounded so that a worker that may be gone takes nothing it cannot run."""

from __future__ import annotations

import asyncio

import anyio
import redis.asyncio as aioredis

from taskrunner import JobState, TaskRunner
from taskrunner.backend import ClaimingWait, JobRecord
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.moving import declared
from taskrunner_redis.records import micros
from taskrunner_redis.scripts import library
from tests.redis.conftest import REDIS_URL

WORKER = "w-wake"
LONG = 60.0  # a wait's timeout no test waits out: what ends it is what is tested


async def test_a_job_enqueued_during_the_wait_comes_back_claimed(
    redis_backend: RedisBackend,
) -> None:
    assert isinstance(redis_backend, ClaimingWait)
    assert redis_backend.claims_on_wake(["default"])
    waiting = asyncio.create_task(redis_backend.wait_claiming(["default"], LONG, 5, WORKER, 30))
    await anyio.sleep(0.2)  # blocked on the wake list by now (or soon: it is woken either way)
    job = new_job()
    await redis_backend.enqueue([job])
    with anyio.fail_after(20):
        (record,) = await waiting
    assert (record.id, record.attempt, record.state) == (job.id, 1, JobState.RUNNING)
    (stored,) = await redis_backend.get([job.id])
    assert stored is not None and (stored.state, stored.worker) == (JobState.RUNNING, WORKER)
    # the lease is the one asked for, as a claim's
    assert stored.lease_until is not None and stored.started_at is not None
    assert 29 < stored.lease_until - stored.started_at <= 30


async def test_one_job_at_the_most_the_rest_by_the_next_claim(redis_backend: RedisBackend) -> None:
    jobs = [new_job(delay=0.3) for _ in range(3)]
    await redis_backend.enqueue(jobs)
    records: list[JobRecord] = []
    with anyio.fail_after(20):
        while not records:  # woken at first by a job due sooner than none, before it is due
            records = await redis_backend.wait_claiming(["default"], LONG, 5, WORKER, 30)
    assert len(records) == 1
    assert len(await redis_backend.claim(["default"], 5, WORKER, 30)) == 2


async def test_a_claim_past_its_deadline_takes_nothing_and_passes_the_wake_on(
    redis_backend: RedisBackend, redis_prefix: str
) -> None:
    """What a worker frozen after sending its wait gets once the deadline has passed."""
    job = new_job()
    await redis_backend.enqueue([job])
    client = aioredis.from_url(REDIS_URL)
    try:
        wake = redis_backend.keys.queue("default", "wake")
        await client.delete(wake)
        route = redis_backend.keys.route("default")
        seconds, micro = await client.time()
        past = seconds * 1_000_000 + micro - 1
        name = library().functions["claim"]
        args = [redis_prefix, "default", WORKER, micros(30), 1]
        answer = await client.fcall(name, *declared(route), *args, past)  # type: ignore[arg-type]
        assert len(answer) == 1  # the clock, no job
        assert await client.llen(wake) == 1  # another worker is woken for it
        answer = await client.fcall(name, *declared(route), *args, past + 60_000_000)  # type: ignore[arg-type]
        assert answer[1][0].decode() == job.id  # before its deadline, the claim takes it
    finally:
        await client.aclose()


async def test_calling_off_an_idle_wait_ends_it_and_later_ones(redis_backend: RedisBackend) -> None:
    waiting = asyncio.create_task(redis_backend.wait_claiming(["default"], LONG, 5, WORKER, 30))
    await anyio.sleep(0.2)
    redis_backend.call_off(WORKER)
    with anyio.fail_after(20):
        assert await waiting == []
        assert await redis_backend.wait_claiming(["default"], LONG, 5, WORKER, 30) == []


async def test_a_called_off_pop_still_hands_over_what_its_claim_took(
    redis_backend: RedisBackend, redis_prefix: str
) -> None:
    """The pop ends unwoken (CLIENT UNBLOCK), the claim behind it runs: its job comes back
    to the caller, not left claimed for nobody."""
    job = new_job(queue="elsewhere")  # its wake token goes to another list than the pop's
    await redis_backend.enqueue([job])
    await redis_backend.wait_claiming(["default"], 0.01, 1, WORKER, 30)  # makes the lanes
    wakes = redis_backend._wake_claims
    assert wakes is not None
    keys, name = redis_backend.keys, library().functions["claim"]
    claim = ("FCALL", name, *declared(keys.route("elsewhere")), redis_prefix, "elsewhere",
             WORKER, micros(30), 1)  # fmt: skip
    popping = asyncio.create_task(
        wakes.pop_then_claim(WORKER, keys.queue("default", "wake"), LONG, claim)
    )
    await anyio.sleep(0.2)
    wakes.call_off(WORKER)
    with anyio.fail_after(20):
        answer = await popping
    assert answer is not None and answer[1][0].decode() == job.id
    (stored,) = await redis_backend.get([job.id])
    assert stored is not None and stored.worker == WORKER


async def test_a_paused_queue_gives_nothing_to_a_claiming_wait(redis_backend: RedisBackend) -> None:
    job = new_job()
    await redis_backend.pause(["default"])
    await redis_backend.enqueue([job])
    assert await redis_backend.wait_claiming(["default"], 0.2, 5, WORKER, 30) == []
    waiting = asyncio.create_task(redis_backend.wait_claiming(["default"], LONG, 5, WORKER, 30))
    await anyio.sleep(0.1)
    await redis_backend.resume(["default"])  # wakes the waiting worker, which claims
    with anyio.fail_after(20):
        (record,) = await waiting
    assert record.id == job.id


async def test_several_queues_wait_without_claiming(redis_backend: RedisBackend) -> None:
    assert not redis_backend.claims_on_wake(["a", "b"])


async def test_a_worker_stopped_while_idle_stops_and_leaves_nothing_running(
    redis_url: str,
) -> None:
    runner = TaskRunner(redis_url)
    ran: list[int] = []

    @runner.task()
    async def note(n: int) -> None:
        ran.append(n)

    try:
        worker = runner.worker(poll=LONG, lease=300)  # its pops last 10 s (LONGEST_BLOCK)
        with anyio.fail_after(8):  # not a pop's end: the stop called the wait off
            async with worker:
                job = await note.enqueue(1)
                await job.result(timeout=20)  # picked up by a claiming wait
                await anyio.sleep(0.2)  # idle again, blocked with its claim queued
            stats = await runner.stats()
        assert ran == [1]
        assert all(not counts.get(JobState.RUNNING) for counts in stats.values())
        assert await runner.backend.wait_claiming(["default"], LONG, 1, worker.id, 30) == []  # type: ignore[attr-defined]
    finally:
        await runner.close()


async def test_a_server_that_refuses_client_commands_gets_wait_then_claim(
    redis_prefix: str,
) -> None:
    """A managed Redis may refuse CLIENT ID (and so CLIENT UNBLOCK): the worker then waits
    and claims apart, as on a cluster."""
    admin = aioredis.from_url(REDIS_URL)
    user = f"{redis_prefix}-user"
    await admin.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", user, "on", ">secret", "~*", "&*", "+@all", "-client|id"
    )
    host = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    backend = RedisBackend(f"redis://{user}:secret@{host}/0?prefix={redis_prefix}")
    try:
        await backend.connect()
        assert backend.claims_on_wake(["default"])  # not known before the first try
        assert await backend.wait_claiming(["default"], LONG, 1, WORKER, 30) == []
        assert not backend.claims_on_wake(["default"])
    finally:
        await backend.close()
        await admin.execute_command("ACL", "DELUSER", user)  # type: ignore[no-untyped-call]
        await admin.aclose()
