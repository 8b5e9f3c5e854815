"""The set of known queues (P:queues) heals after Redis loses it.

Reclaim, stats, listing and finding a job by id walk that set. After a FLUSHDB or a restart
without persistence, a process that listed a queue before must list it again when it
enqueues there, and a worker lists the queues it takes jobs from, again and again.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from taskrunner import JobState
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from tests.helpers import eventually
from tests.procs import worker_processes
from tests.redis.apps.ledger import make_runner
from tests.redis.conftest import REDIS_URL
from tests.redis.server import RedisServer, running_server

WORKER = "w-1"


@pytest.fixture
def forgetful_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own that keeps nothing on disk: a restart empties it."""
    with running_server(tmp_path, persistent=False) as server:
        yield server


async def lose_data(server: RedisServer, how: str) -> None:
    if how == "restart":
        server.stop()
        server.start()
    else:
        client = aioredis.Redis.from_url(server.url)
        try:
            await client.flushdb()
        finally:
            await client.aclose()


@pytest.fixture
async def fresh(forgetful_server: RedisServer) -> AsyncIterator[RedisBackend]:
    """A backend that knows no queue of its own, as the CLI's is."""
    backend = RedisBackend(forgetful_server.url)
    await backend.connect()
    yield backend
    await backend.close()


@pytest.mark.parametrize("how", ["flushdb", "restart"])
async def test_enqueue_lists_its_queue_again_after_redis_lost_its_data(
    forgetful_server: RedisServer, fresh: RedisBackend, how: str
) -> None:
    app = RedisBackend(forgetful_server.url)  # a long-lived process: it listed 'mail' once
    await app.connect()
    try:
        await app.enqueue([new_job(queue="mail")])
        await lose_data(forgetful_server, how)
        job = new_job(queue="mail")
        assert await app.enqueue([job]) == [job.id]
    finally:
        await app.close()

    (record,) = await fresh.get([job.id])
    assert record is not None and record.state is JobState.QUEUED
    assert (await fresh.stats())["mail"][JobState.QUEUED] == 1


async def test_a_worker_lists_the_queues_it_takes_jobs_from_again_and_again(
    redis_url: str, redis_prefix: str
) -> None:
    app, dead, alive = (RedisBackend(redis_url) for _ in range(3))
    for backend in (app, dead, alive):
        await backend.connect()
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        job = new_job(queue="reports")
        await app.enqueue([job])
        await dead.claim(["reports"], 1, WORKER, 0.2)  # and it dies: no heartbeat
        assert await alive.claim(["reports"], 1, "w-2", 30) == []
        await client.delete(f"{redis_prefix}:queues")  # lost (neither worker enqueued there)
        await anyio.sleep(0.3)
        assert await alive.reclaim() == [job.id]
    finally:
        await client.aclose()
        for backend in (app, dead, alive):
            await backend.close()


async def test_a_read_lists_the_queues_of_its_process_again(
    redis_backend: RedisBackend, redis_prefix: str, redis_url: str
) -> None:
    job = new_job(queue="mail")
    await redis_backend.enqueue([job])
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.delete(f"{redis_prefix}:queues")
    finally:
        await client.aclose()
    assert list(await redis_backend.stats()) == ["mail"]
    stranger = RedisBackend(redis_url)
    await stranger.connect()
    try:
        assert [r.id if r else None for r in await stranger.get([job.id])] == [job.id]
    finally:
        await stranger.close()


@pytest.mark.slow
async def test_the_job_of_a_worker_killed_after_a_restart_runs_again(
    forgetful_server: RedisServer, tmp_path: Path
) -> None:
    url = forgetful_server.url
    runner = make_runner(url)
    record = runner.tasks["ledger.record"]
    env = {"TASKRUNNER_URL": url, "LEDGER_REDIS": url, "LEDGER_KEY": "ledger"}
    args = ("--lease", "1", "--concurrency", "1")
    app = "tests.redis.apps.ledger:runner"
    with worker_processes(app, 2, *args, log_dir=tmp_path, env=env) as procs:
        await (await record.enqueue(0)).result(timeout=30)  # everyone knows the queue
        await lose_data(forgetful_server, "restart")
        job = await record.enqueue(1, sleep=3)

        seen: list[str] = []

        async def running() -> bool:
            info = await runner.get_job(job.id)
            if info.state is JobState.RUNNING and info.worker is not None:
                seen.append(info.worker)  # read once: the job may move on before a second read
            return bool(seen)

        await eventually(running, timeout=30)
        pid = int(seen[0].split(":")[1])  # worker ids: host:pid:random
        next(proc for proc in procs if proc.pid == pid).kill()
        assert (await job.result(timeout=60)) == 1
        shown = await anyio.run_process(
            [sys.executable, "-m", "taskrunner", "job", job.id, "--url", url], check=False
        )
    output = (shown.stdout + shown.stderr).decode()
    assert shown.returncode == 0 and "succeeded" in output, output
    await runner.close()
