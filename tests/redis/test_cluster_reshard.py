"""Resharding a Redis Cluster (three primaries started by the test) while jobs flow: a queue's
slot moves to another primary, by hand (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE of its
keys two at a time, SETSLOT NODE) or by `redis-cli --cluster reshard`, with a ledger of the
jobs that ran.

Every function call declares its slot's never-written key (taskrunner_redis/moving.py), so
Redis holds each call back (TRYAGAIN) while the slot is half moved, and the backend sends it
again until the slot has its new owner. The tests check that calls were held back (the
primaries' TRYAGAIN count grows while the slot is half moved), that every job enqueued
succeeded, and that none ran twice (no lease expires in these tests, so at-least-once
explains no second run).

- In CI: a busy queue's slot moves by hand while a worker drains the queue and a producer
  enqueues to it; the same by `redis-cli --cluster reshard`; the documented procedure of
  before (a paused, idle queue moves while another queue flows) still holds.
- On demand (`TASKRUNNER_RESHARD_LONG=1`): a longer run, the slot moving back and forth
  while two workers drain the queue and a producer enqueues to it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from taskrunner import BackendError, JobState, TaskRunner
from taskrunner_redis import moving
from tests.redis import failover
from tests.redis.cluster import LocalCluster, cluster_command, local_cluster
from tests.redis.reshard import move_slot, refusals, reshard, start_move
from tests.redis.server import RedisServer
from tests.redis.slots import key_slot

pytestmark = pytest.mark.slow

BACKLOG = 100  # jobs waiting in the queue when its slot moves


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("reshard"), primaries=3) as started:
        yield started


class Ledger:
    """A runner whose one task, failover.TASK, counts its runs per number."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.ran: Counter[int] = Counter()
        self.runner = TaskRunner(f"{cluster.url}?prefix=trrs-{secrets.token_hex(4)}")
        self.numbers = iter(range(100_000))

        @self.runner.task(name=failover.TASK, retries=3)
        async def double(n: int) -> int:
            self.ran[n] += 1
            return 2 * n

    async def produce(self, queue: str, count: int) -> list[str]:
        """Enqueue `count` numbers, one every few milliseconds; fails if the enqueues stay
        refused for minutes (calls held back forever)."""
        ids = []
        async with asyncio.timeout(3 * failover.SETTLE):
            for _ in range(count):
                n = next(self.numbers)
                ids.append(await failover.enqueue_until_stored(self.runner, n, queue))
                await asyncio.sleep(0.005)
        return ids

    async def check(self, ids: list[str]) -> None:
        """Every job ended succeeded, and every number enqueued ran exactly once (no lease
        expired in these tests, so at-least-once explains no second run)."""
        records = await asyncio.wait_for(failover.all_finished(self.runner, ids), failover.SETTLE)
        assert [r.state for r in records] == [JobState.SUCCEEDED] * len(ids)
        assert sorted(self.ran) == list(range(len(ids)))
        assert [n for n, times in self.ran.items() if times > 1] == []


def two_queues(cluster: LocalCluster) -> tuple[str, str]:
    """A queue on the first primary (the one that moves) and one on the third."""
    on_each = cluster.queues_on_each_primary("rs-")
    return on_each[0][0], on_each[2][0]


async def test_a_paused_idle_queues_slot_moves_while_other_queues_flow(
    cluster: LocalCluster,
) -> None:
    moving, other = two_queues(cluster)
    slot = key_slot(moving.encode())
    ledger = Ledger(cluster)
    runner = ledger.runner
    try:
        async with runner.worker(concurrency=4, queues=[moving], reclaim_interval=1):
            ids = await ledger.produce(moving, BACKLOG // 2)
            await runner.pause(moving)
            ids += await ledger.produce(moving, BACKLOG // 2)  # held in the paused queue
        # the queue's running jobs finished (its worker stopped gracefully) and it is paused
        async with runner.worker(concurrency=4, queues=[other], reclaim_interval=1):
            producing = asyncio.create_task(ledger.produce(other, BACKLOG))
            moved = await asyncio.to_thread(move_slot, cluster, slot, cluster.primaries[1])
            ids += await producing
            await runner.resume(moving)
            async with runner.worker(concurrency=4, queues=[moving], reclaim_interval=1):
                await ledger.check(ids)
        assert cluster.owner(slot) is cluster.primaries[1]
        assert moved > BACKLOG  # the held jobs' hashes among the queue's keys
    finally:
        await runner.close()


def held_back(cluster: LocalCluster) -> Callable[[], None]:
    """A `halfway` for move_slot: it waits until a primary has refused a call (TRYAGAIN)
    while the slot is half moved, so each run shows calls meeting a moving slot."""
    before = refusals(cluster)

    def wait() -> None:
        deadline = time.monotonic() + failover.SETTLE
        while refusals(cluster) == before:
            assert time.monotonic() < deadline, "no call met the moving slot"
            time.sleep(0.01)

    return wait


async def test_a_busy_queues_slot_moves_to_another_primary(cluster: LocalCluster) -> None:
    moving, _ = two_queues(cluster)
    slot, target = key_slot(moving.encode()), cluster.primaries[1]
    ledger = Ledger(cluster)
    try:
        async with ledger.runner.worker(concurrency=4, queues=[moving], reclaim_interval=1):
            ids = await ledger.produce(moving, BACKLOG)
            producing = asyncio.create_task(ledger.produce(moving, BACKLOG))
            halfway = held_back(cluster)
            moved = await asyncio.to_thread(move_slot, cluster, slot, target, halfway)
            ids += await producing
            await ledger.check(ids)
        assert cluster.owner(slot) is target
        assert moved > 0
    finally:
        await ledger.runner.close()


def queue_in_slot(slot: int) -> str:
    """A queue name whose keys land in `slot`."""
    return next(f"rc-{n}" for n in range(10**6) if key_slot(f"rc-{n}".encode()) == slot)


async def test_redis_cli_reshard_moves_a_busy_queue(cluster: LocalCluster) -> None:
    source, target = cluster.primaries[0], cluster.primaries[1]
    moving = queue_in_slot(0)  # redis-cli moves the source's lowest slots first
    ledger = Ledger(cluster)
    try:
        async with ledger.runner.worker(concurrency=4, queues=[moving], reclaim_interval=1):
            ids = await ledger.produce(moving, BACKLOG)
            producing = asyncio.create_task(ledger.produce(moving, BACKLOG))
            await asyncio.to_thread(reshard, cluster, source, target, 1)
            ids += await producing
            await ledger.check(ids)
        assert cluster.owner(0) is target
    finally:
        await ledger.runner.close()


@pytest.mark.skipif(
    os.environ.get("TASKRUNNER_RESHARD_LONG") != "1",
    reason="a longer run: set TASKRUNNER_RESHARD_LONG=1 to run it",
)
async def test_a_busy_queues_slot_moves_back_and_forth(cluster: LocalCluster) -> None:
    moving, _ = two_queues(cluster)
    slot = key_slot(moving.encode())
    owners: list[RedisServer] = [cluster.primaries[1], cluster.primaries[2], cluster.primaries[0]]
    ledger = Ledger(cluster)
    try:
        async with (
            ledger.runner.worker(concurrency=8, queues=[moving], reclaim_interval=1),
            ledger.runner.worker(concurrency=8, queues=[moving], reclaim_interval=1),
        ):
            ids = await ledger.produce(moving, 5 * BACKLOG)
            producing = asyncio.create_task(ledger.produce(moving, 20 * BACKLOG))
            for target in 2 * owners:
                halfway = held_back(cluster)
                await asyncio.to_thread(move_slot, cluster, slot, target, halfway)
            ids += await producing
            await ledger.check(ids)
        assert cluster.owner(slot) is owners[-1]
    finally:
        await ledger.runner.close()


async def test_a_call_on_a_slot_left_half_moved_fails_with_a_clear_error(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reshard stopped halfway leaves the slot MIGRATING: calls on its queue are refused
    (TRYAGAIN) until moving.LONGEST (shortened here), then fail as a BackendError that says
    what to do; nothing was written on either primary."""
    monkeypatch.setattr(moving, "LONGEST", 0.5)
    moving_queue, _ = two_queues(cluster)
    slot, target = key_slot(moving_queue.encode()), cluster.primaries[1]
    ledger = Ledger(cluster)
    try:
        await ledger.produce(moving_queue, 1)
        before = cluster_command(cluster.owner(slot).port, "COUNTKEYSINSLOT", slot)
        source = start_move(cluster, slot, target)
        with pytest.raises(BackendError, match="redis-cli --cluster fix"):
            await ledger.runner.tasks[failover.TASK].options(queue=moving_queue).enqueue(1)
        assert cluster_command(source.port, "COUNTKEYSINSLOT", slot) == before
        assert cluster_command(target.port, "COUNTKEYSINSLOT", slot) == 0
    finally:
        await ledger.runner.close()
