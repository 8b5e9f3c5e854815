"""A Redis with an append-only file restarts under load: workers recover, no job is lost."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from taskrunner import JobState
from tests.helpers import eventually, free_port
from tests.procs import worker_processes
from tests.redis.apps.ledger import make_runner

APP = "tests.redis.apps.ledger:runner"
pytestmark = pytest.mark.slow


class RedisServer:
    """A redis-server of the test's own, with an append-only file fsynced on every write."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


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
