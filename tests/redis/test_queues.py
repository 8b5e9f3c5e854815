"""What keeping each queue under its own hash tag asks of the Redis backend.

A job's keys live under its queue's tag, so a process that did not enqueue a job must find
its queue before it can read or change it; a worker on several queues waits on each queue's
wake list; and the set of known queues must survive Redis losing it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
import redis.asyncio as aioredis

from taskrunner import JobState
from taskrunner.backend import Beat, Outcome, OutcomeKind
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.listen import first_wake
from taskrunner_redis.locate import QueueLocator
from tests.redis.conftest import REDIS_URL

WORKER = "w-1"


@pytest.fixture
async def stranger(redis_url: str) -> AsyncIterator[RedisBackend]:
    """A second backend on the same Redis and prefix that remembers no job of its own."""
    backend = RedisBackend(redis_url)
    await backend.connect()
    yield backend
    await backend.close()


async def test_a_process_that_never_saw_a_job_finds_it_by_id(
    redis_backend: RedisBackend, stranger: RedisBackend
) -> None:
    jobs = [new_job(queue="emails"), new_job(queue="feeds", delay=3600), new_job(queue="feeds")]
    await redis_backend.enqueue(jobs)

    records = await stranger.get([job.id for job in jobs] + ["no-such-job"])
    assert [r.queue if r else None for r in records] == ["emails", "feeds", "feeds", None]
    assert await stranger.retry([jobs[1].id]) == [True]  # due now
    assert await stranger.cancel([jobs[2].id, "no-such-job"], ttl=None) == [
        JobState.CANCELLED,
        None,
    ]
    assert await stranger.retry([jobs[2].id]) == [True]
    (first, _) = await redis_backend.claim(["emails", "feeds"], 2, WORKER, 30)
    assert first.id == jobs[0].id


async def test_outcomes_and_beats_without_a_queue_are_looked_up(
    redis_backend: RedisBackend, stranger: RedisBackend
) -> None:
    job = new_job(queue="emails")
    await redis_backend.enqueue([job])
    (record,) = await redis_backend.claim(["emails"], 1, WORKER, 30)

    assert await stranger.heartbeat([Beat(job.id, record.attempt), Beat("gone", 1)], 30) == [
        "held",
        "lost",
    ]
    done = Outcome(job.id, record.attempt, OutcomeKind.SUCCEEDED, result=b"1")
    assert await stranger.finish([done, Outcome("gone", 1, OutcomeKind.FAILED)]) == [True, False]
    (finished,) = await stranger.get([job.id])
    assert finished is not None and finished.state is JobState.SUCCEEDED


async def test_wait_finished_from_another_process(
    redis_backend: RedisBackend, stranger: RedisBackend
) -> None:
    job = new_job(queue="emails")
    await redis_backend.enqueue([job])

    async def finish_soon() -> None:
        await anyio.sleep(0.1)
        (record,) = await redis_backend.claim(["emails"], 1, WORKER, 30)
        await redis_backend.finish(
            [Outcome(job.id, record.attempt, OutcomeKind.SUCCEEDED, result=b"2", queue="emails")]
        )

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(finish_soon)
            record = await stranger.wait_finished(job.id, 8)
    assert record is not None and record.result == b"2"
    assert await stranger.wait_finished("no-such-job", 1) is None


async def test_a_worker_on_several_queues_wakes_for_any_of_them(
    redis_backend: RedisBackend, stranger: RedisBackend
) -> None:
    async def enqueue_soon() -> None:
        await anyio.sleep(0.1)
        await stranger.enqueue([new_job(queue="third")])

    with anyio.fail_after(10):  # a guard: wait() below would block for 60 s
        async with anyio.create_task_group() as tg:
            tg.start_soon(enqueue_soon)
            await redis_backend.wait(["first", "second", "third"], 60)
    assert len(await redis_backend.claim(["first", "second", "third"], 5, WORKER, 30)) == 1
    # the waits on the other queues were called off: the pool can still serve everyone
    with anyio.fail_after(10):
        await redis_backend.wait(["first", "second"], 0.05)
        assert await redis_backend.stats(["first"]) == {"first": dict.fromkeys(JobState, 0)}


async def test_the_pops_called_off_on_a_cluster_end_when_one_list_has_a_token(
    redis_prefix: str,
) -> None:
    # On a cluster each queue's wake list gets a pop of its own (first_wake). The others
    # are called off once one returns, even when redis-py lets a pop's cancel go (the pop
    # then blocked for its whole timeout, and a stopping worker with it).
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        # a guard, not a timing: a pop left blocking held a round for seconds (5 s here),
        # so the 20 rounds would take minutes; called off, each takes a few milliseconds
        with anyio.fail_after(30):
            for round_ in range(20):
                keys = [f"{redis_prefix}:wake-test:{round_}:{n}" for n in range(3)]
                await client.rpush(keys[2], "token")
                await first_wake(client, keys, 60)
                assert await client.exists(*keys) == 0  # the one token was taken, no more
    finally:
        await client.aclose()


async def test_reclaim_lists_the_queues_again_if_redis_lost_them(
    redis_backend: RedisBackend, redis_prefix: str, stranger: RedisBackend
) -> None:
    job = new_job(queue="emails")
    await redis_backend.enqueue([job])
    await redis_backend.claim(["emails"], 1, WORKER, 0.05)
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.delete(f"{redis_prefix}:queues")  # as after a restart without persistence
    finally:
        await client.aclose()
    assert await stranger.stats() == {}

    await anyio.sleep(0.1)
    assert await redis_backend.reclaim() == [job.id]
    assert list(await stranger.stats()) == ["emails"]


def test_the_locator_forgets_the_oldest_ids_first() -> None:
    from taskrunner_redis.keys import Keys

    locator = QueueLocator(Keys("p"), size=3)
    locator.remember([("a", "q1"), ("b", "q1"), ("c", "q2"), ("d", "q2")])
    assert locator._queues == {"b": "q1", "c": "q2", "d": "q2"}


def test_the_locator_keeps_the_newest_ids_over_many_claims() -> None:
    from taskrunner_redis.keys import Keys

    locator = QueueLocator(Keys("p"), size=100)
    ids = [f"j{i}" for i in range(1_000)]
    for start in range(0, len(ids), 30):  # as claims of 30 jobs do, past the size
        locator.remember((job_id, "q") for job_id in ids[start : start + 30])
    assert list(locator._queues) == ids[-100:]
    locator.remember([("j950", "q")])  # known already: nothing forgotten
    assert list(locator._queues) == ids[-100:]


async def test_calls_spanning_queues_reload_scripts_redis_forgot(
    redis_backend: RedisBackend,
) -> None:
    await redis_backend.enqueue([new_job(queue="emails"), new_job(queue="feeds")])
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.script_flush()  # as after a restart
    finally:
        await client.aclose()

    stats = await redis_backend.stats(["emails", "feeds"])
    assert {name: counts[JobState.QUEUED] for name, counts in stats.items()} == {
        "emails": 1,
        "feeds": 1,
    }


async def test_only_jobs_someone_waits_for_are_announced(
    redis_backend: RedisBackend, redis_prefix: str
) -> None:
    waited, other = new_job(queue="emails"), new_job(queue="emails")
    await redis_backend.enqueue([waited, other])
    assert await redis_backend.wait_finished(waited.id, 0.01) is None  # listed 5 s more
    waiters = f"{redis_prefix}:{{emails}}:waiters"
    client = aioredis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(f"{redis_prefix}:finished")
        assert await client.zcard(waiters) == 1
        records = await redis_backend.claim(["emails"], 2, WORKER, 30)
        await redis_backend.finish(
            [Outcome(r.id, r.attempt, OutcomeKind.SUCCEEDED, result=b"1") for r in records]
        )
        messages = []
        with anyio.move_on_after(1):
            while True:
                message = await pubsub.get_message(timeout=1)
                if message is not None:
                    messages.append(message["data"])
        assert messages == [waited.id.encode()]
        assert await client.zcard(waiters) == 0  # announced once, then forgotten

        await client.zadd(waiters, {"gave-up": 1})  # a wait that ended long ago
        await redis_backend.reclaim()
        assert await client.zcard(waiters) == 0
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


async def test_the_wake_list_of_a_queue_nobody_waits_on_stays_short(
    redis_backend: RedisBackend,
) -> None:
    """Each enqueue pushes a wake token while the list holds fewer than 16; a full one
    takes no more (an enqueue then only reads its length)."""
    wake = redis_backend.keys.queue("idle", "wake")
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        for _ in range(5):
            await redis_backend.enqueue([new_job(queue="idle")])
        assert await client.llen(wake) == 5
        for _ in range(30):
            await redis_backend.enqueue([new_job(queue="idle")])
        assert await client.llen(wake) == 16
        await redis_backend.enqueue([new_job(queue="idle") for _ in range(40)])
        assert await client.llen(wake) == 16
    finally:
        await client.aclose()
