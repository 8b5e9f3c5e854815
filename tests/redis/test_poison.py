"""Input written straight into Redis that taskrunner did not write correctly."""

from __future__ import annotations

import redis.asyncio as aioredis

from taskrunner import JobState, TaskRunner
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from tests.helpers import drain
from tests.redis.conftest import REDIS_URL


async def test_poison_jobs_fail_clearly_and_the_worker_carries_on(
    redis_backend: RedisBackend, redis_prefix: str
) -> None:
    runner = TaskRunner(redis_backend.url, backend=redis_backend)

    @runner.task(name="poison.fine")
    async def fine() -> str:
        return "ok"

    bad_json = new_job(task="poison.fine", payload=b"{not json")
    empty = new_job(task="poison.fine", payload=b"")
    unknown = new_job(task="poison.nobody", payload=b'{"args":[],"kwargs":{}}')
    await redis_backend.enqueue([bad_json, empty, unknown])
    # a hash written by hand with no task, and one whose attempt counter is garbage
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        for job_id, fields in {
            "hand-1": {"queue": "default", "state": "queued", "run_at": 1},
            "hand-2": {
                "task": "poison.fine",
                "payload": b"{}",
                "queue": "default",
                "state": "queued",
                "priority": 0,
                "attempt": "many",
                "max_attempts": 3,
                "enqueued_at": 1,
                "run_at": 1,
            },
        }.items():
            await client.hset(f"{redis_prefix}:{{default}}:job:{job_id}", mapping=fields)  # type: ignore[arg-type]
            await client.zadd(f"{redis_prefix}:{{default}}:ready:0", {job_id: 1})
            await client.zadd(f"{redis_prefix}:{{default}}:prios", {"0": 0})
    finally:
        await client.aclose()
    good = await fine.enqueue()

    await drain(runner)

    assert await good.result(timeout=5) == "ok"
    infos = await runner.get_jobs([bad_json.id, empty.id, unknown.id])
    assert [i.error.type if i and i.error else None for i in infos] == [
        "UndecodablePayload",
        "UndecodablePayload",
        "UnknownTask",
    ]
    assert all(i is not None and i.state is JobState.FAILED for i in infos)
    for hand_made in ("hand-1", "hand-2"):
        (record,) = await redis_backend.get([hand_made])
        assert record is not None
        assert record.state is JobState.FAILED
        assert record.error is not None and b"CorruptJob" in record.error
    stats = (await runner.stats())["default"]
    assert stats[JobState.QUEUED] == stats[JobState.RUNNING] == 0
