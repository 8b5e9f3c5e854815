"""A Redis with an append-only file restarts under load: workers recover, no job is lost."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from taskrunner import JobState
from tests.helpers import eventually
from tests.procs import worker_processes
from tests.redis.apps.ledger import make_runner
from tests.redis.server import RedisServer

APP = "tests.redis.apps.ledger:runner"
pytestmark = pytest.mark.slow


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_workers_recover_from_a_redis_restart_and_finish_every_job(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_server.url
    runner = make_runner(url)
    record = runner.tasks["ledger.record"]
    jobs = await runner.enqueue_many(record.prepare(i, sleep=0.01) for i in range(1500))
    env = {"TASKRUNNER_URL": url, "LEDGER_REDIS": url, "LEDGER_KEY": "ledger"}
    ledger = redis.Redis.from_url(url)
    with worker_processes(APP, 2, "--concurrency", "20", log_dir=tmp_path, env=env) as procs:
        await eventually(lambda: ledger.llen("ledger") >= 300, timeout=60)
        redis_server.stop()  # under load: workers are mid-claim, mid-heartbeat, mid-report
        redis_server.start()
        ledger = redis.Redis.from_url(url)

        async def all_succeeded() -> bool:
            stats = (await runner.stats())["default"]
            return stats[JobState.SUCCEEDED] == len(jobs)

        await eventually(all_succeeded, timeout=120)
        for proc in procs:
            proc.signal(signal.SIGTERM)
        codes = [await proc.wait(30) for proc in procs]
        logs = [proc.output() for proc in procs]
    assert codes == [0, 0], logs
    assert any("failed" in log and "retrying" in log for log in logs)  # they did notice
    entries: list[bytes] = ledger.lrange("ledger", 0, -1)  # type: ignore[assignment]
    done = {entry.decode().split(":")[0] for entry in entries}
    assert done == {job.id for job in jobs}
    await runner.close()
