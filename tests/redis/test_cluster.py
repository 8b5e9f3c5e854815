"""The key layout fits Redis Cluster: every command and every script run keeps to one slot.

The whole conformance suite, a worker on several queues and the operations commands run
against a redis-server in cluster mode (one node holding every slot) while a MONITOR watches:
the node itself refuses multi-slot commands (CROSSSLOT), and the watcher fails the test if a
script touched a key outside the slot of the key it declares.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from taskrunner import JobState, TaskRunner
from taskrunner.testing import BackendConformance, InspectionConformance
from taskrunner_redis import RedisBackend
from tests.helpers import drain
from tests.redis.conftest import delete_prefix
from tests.redis.server import RedisServer
from tests.redis.slots import Command, SlotWatcher, key_slot, parse_line
from tests.redis.test_batches import RedisBatchChecks
from tests.redis.test_dependencies import RedisDependencyChecks


@pytest.fixture(scope="module")
def cluster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is needed for the cluster-mode tests")
    server = RedisServer(tmp_path_factory.mktemp("cluster"), cluster=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def watched_backend(cluster_server: RedisServer) -> AsyncIterator[RedisBackend]:
    prefix = f"trcluster-{uuid.uuid4().hex[:12]}"
    backend = RedisBackend(f"{cluster_server.url}?prefix={prefix}")
    async with SlotWatcher(cluster_server.url) as watcher:
        await backend.connect()
        try:
            yield backend
        finally:
            await backend.close()
    await delete_prefix(cluster_server.url, prefix)
    assert watcher.commands  # the watcher saw the backend's traffic (a skipped test: connect's)
    assert watcher.violations() == []


class TestRedisClusterLayout(BackendConformance, InspectionConformance):
    @pytest.fixture
    def backend(self, watched_backend: RedisBackend) -> RedisBackend:
        return watched_backend


class TestRedisClusterBatches(RedisBatchChecks):
    """Batches whose members and callbacks sit on several queues (slots): each script
    still keeps to one slot."""

    @pytest.fixture
    def backend(self, watched_backend: RedisBackend) -> RedisBackend:
        return watched_backend

    @pytest.fixture
    async def peer(self, watched_backend: RedisBackend) -> AsyncIterator[RedisBackend]:
        peer = RedisBackend(watched_backend.url)
        await peer.connect()
        yield peer
        await peer.close()


class TestRedisClusterDependencies(RedisDependencyChecks):
    """Dependencies and their dependents on several queues (slots): each script still
    keeps to one slot."""

    @pytest.fixture
    def backend(self, watched_backend: RedisBackend) -> RedisBackend:
        return watched_backend

    @pytest.fixture
    async def peer(self, watched_backend: RedisBackend) -> AsyncIterator[RedisBackend]:
        peer = RedisBackend(watched_backend.url)
        await peer.connect()
        yield peer
        await peer.close()


async def test_a_worker_on_several_queues_keeps_each_call_to_one_slot(
    watched_backend: RedisBackend,
) -> None:
    runner = TaskRunner(watched_backend.url, backend=watched_backend)
    seen: list[str] = []

    @runner.task(name="cluster.record", queue="emails", retries=1, backoff=lambda _: 0.0)
    async def record(name: str, fail: bool = False) -> str:
        if fail and name not in seen:
            seen.append(name)
            raise RuntimeError("once")
        seen.append(name)
        return name

    jobs = [
        await record.enqueue("a"),
        await record.options(queue="feeds").enqueue("b"),
        await record.options(queue="images", key="only-once").enqueue("c", fail=True),
        await record.options(queue="images", key="only-once").enqueue("c", fail=True),
    ]
    await drain(runner, queues=["emails", "feeds", "images"])

    assert [await job.result(timeout=5) for job in jobs] == ["a", "b", "c", "c"]
    assert sorted(seen) == ["a", "b", "c", "c"]
    info = await runner.get_job(jobs[2].id)
    assert info is not None and info.attempts[0].outcome.value == "retry"
    stats = await runner.stats()
    assert {name: queue.get(JobState.SUCCEEDED) for name, queue in stats.items()} == {
        "emails": 1,
        "feeds": 1,
        "images": 1,
    }
    assert len((await runner.list_jobs(limit=10)).jobs) == 3


async def test_the_task_registry_and_the_public_function_keep_to_their_slots(
    watched_backend: RedisBackend, cluster_server: RedisServer
) -> None:
    runner = TaskRunner(watched_backend.url, backend=watched_backend)

    @runner.task(name="cluster.add", queue="sums")
    async def add(a: int, b: int) -> int:
        return a + b

    await drain(runner, queues=["sums", "spare"])  # publishes the specs, copied per queue
    client = aioredis.Redis.from_url(cluster_server.url)
    try:
        route = watched_backend.keys.route("sums")
        job_id = await client.fcall(
            "taskrunner_enqueue", 1, route, '{"task": "cluster.add", "args": [1, 2]}'
        )
    finally:
        await client.aclose()
    await drain(runner, queues=["sums"])
    info = await runner.get_job(job_id.decode())
    assert info is not None and info.result == 3


def test_the_watcher_catches_a_script_that_strays_from_its_slot() -> None:
    """The checker itself: a script declaring {a} that touches {b} is reported."""
    watcher = SlotWatcher("redis://unused")
    watcher._key_specs.update({"hset": (1, 1, 1), "blpop": (1, -2, 1), "time": (0, 0, 0)})
    lines = [
        '1.0 [0 127.0.0.1:1] "evalsha" "abc" "1" "p:{a}:prios" "p"',
        '1.0 [0 lua] "TIME"',
        '1.0 [0 lua] "HSET" "p:{a}:job:1" "state" "queued"',
        '1.0 [0 lua] "HSET" "p:{b}:job:2" "state" "queued"',
        '1.0 [0 127.0.0.1:1] "blpop" "p:{a}:wake" "p:{b}:wake" "1"',
        '1.0 [0 127.0.0.1:1] "blpop" "p:{a}:wake" "1"',
    ]
    watcher.commands = [c for line in lines if (c := parse_line(line)) is not None]
    problems = watcher.violations()
    assert len(problems) == 2
    assert "p:{b}:job:2" in problems[0] and "outside the declared slot" in problems[0]
    assert "p:{a}:wake p:{b}:wake" in problems[1]
    assert watcher.keys_of(Command("x", [b"evalsha", b"sha", b"2", b"k1", b"k2", b"v"])) == [
        b"k1",
        b"k2",
    ]


def test_key_slots_match_redis(cluster_server: RedisServer) -> None:
    import redis

    client = redis.Redis(port=cluster_server.port)
    try:
        for key in (b"taskrunner:{default}:prios", b"plain", b"{}empty-tag", b"a{b}c{d}"):
            assert key_slot(key) == client.cluster("KEYSLOT", key)
    finally:
        client.close()
