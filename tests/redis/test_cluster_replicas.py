"""`wait_replicas` on a Redis Cluster (three primaries, a replica each, started by the test):
each enqueue's WAIT goes to the primaries that took its jobs, on the connections that wrote
them."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from taskrunner import TaskRunner
from tests.redis import failover
from tests.redis.cluster import LocalCluster, local_cluster
from tests.redis.reshard import move_slot
from tests.redis.server import RedisServer
from tests.redis.slots import key_slot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("replicas"), primaries=3, replicas=1) as started:
        yield started


def waiting_runner(cluster: LocalCluster, timeout: float) -> tuple[TaskRunner, str]:
    prefix = f"trwr-{secrets.token_hex(4)}"
    url = f"{cluster.url}?prefix={prefix}&wait_replicas=1&wait_timeout={timeout}"
    return failover.doubling_runner(url), prefix


async def on_replica(replica: RedisServer, key: str) -> bool:
    """Whether the replica has `key` (read there, not redirected to its primary)."""
    client = aioredis.Redis(port=replica.port)
    try:
        await client.execute_command("READONLY")  # type: ignore[no-untyped-call]
        return bool(await client.exists(key))
    finally:
        await client.aclose()


async def test_an_enqueue_returns_once_every_primarys_replica_has_its_jobs(
    cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    queues = [names[0] for names in cluster.queues_on_each_primary("wr-")]
    runner, prefix = waiting_runner(cluster, timeout=30)
    double = runner.tasks[failover.TASK]
    try:
        for round_ in range(3):  # one enqueue_many: one pipeline to all three primaries
            jobs = [double.options(queue=q).prepare(10 * round_ + i) for i, q in enumerate(queues)]
            stored = await runner.enqueue_many(jobs)
            for queue, job, primary in zip(queues, stored, cluster.primaries, strict=True):
                key = f"{prefix}:{{{queue}}}:job:{job.id}"
                assert await on_replica(cluster.replica_of(primary), key)
        assert "replicas asked for" not in caplog.text
    finally:
        await runner.close()


async def test_a_stopped_replica_is_waited_for_by_its_own_primary_only(
    cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """A WAIT sent on a connection that wrote nothing would answer at once that the
    replica has everything; sent where the job was written, it waits for the stopped
    replica, and the enqueue warns (the job stays stored on its primary)."""
    queues = [names[0] for names in cluster.queues_on_each_primary("ws-")]
    runner, _ = waiting_runner(cluster, timeout=0.2)
    double = runner.tasks[failover.TASK]
    stopped = cluster.replica_of(cluster.primaries[0])
    assert stopped.proc is not None
    try:
        await double.options(queue=queues[0]).enqueue(0)  # connections to every primary
        await double.options(queue=queues[1]).enqueue(0)
        os.kill(stopped.proc.pid, signal.SIGSTOP)
        try:
            await double.options(queue=queues[1]).enqueue(1)
            assert "replicas asked for" not in caplog.text  # its replica runs
            job = await double.options(queue=queues[0]).enqueue(2)
            assert "only 0 of the 1 replicas asked for (wait_replicas) confirmed" in caplog.text
        finally:
            os.kill(stopped.proc.pid, signal.SIGCONT)
        assert (await runner.get_job(job.id)).args == [2]
    finally:
        await runner.close()


async def test_an_enqueue_the_client_sent_on_after_a_move_is_waited_for_where_it_ran(
    cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """The runner's map still names the old primary of a moved slot: the enqueue's pipeline
    goes there, is redirected (MOVED), and the client sends the call on to the new primary
    on another connection; the backend sends it again with a WAIT there, which waits for
    the new primary's stopped replica."""
    queue = cluster.queues_on_each_primary("wm-")[0][0]
    slot, target = key_slot(queue.encode()), cluster.primaries[1]
    runner, _ = waiting_runner(cluster, timeout=0.2)
    double = runner.tasks[failover.TASK]
    stopped = cluster.replica_of(target)
    assert stopped.proc is not None
    try:
        await double.options(queue=queue).enqueue(0)
        await asyncio.to_thread(move_slot, cluster, slot, target)
        os.kill(stopped.proc.pid, signal.SIGSTOP)
        try:
            job = await double.options(queue=queue).enqueue(1)
            assert "only 0 of the 1 replicas asked for (wait_replicas) confirmed" in caplog.text
        finally:
            os.kill(stopped.proc.pid, signal.SIGCONT)
        assert cluster.owner(slot) is target
        assert (await runner.get_job(job.id)).args == [1]
    finally:
        await runner.close()
