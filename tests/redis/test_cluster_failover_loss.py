"""What a Redis Cluster failover loses (three primaries, a replica each, started by the
test): producers enqueue as fast as they can to a queue while its primary is SIGKILLed and
the cluster promotes the replica; a ledger keeps every id an enqueue returned, and after the
promotion each is looked up.

- Without `wait_replicas`, an enqueue returns once the primary has the job, and a job the
  replica had not received yet when the primary died is lost: counted and printed, never
  asserted (it depends on the moment of the kill).
- With `wait_replicas=1`, an enqueue returns once the replica has the job; the replica that
  confirmed is the only one, so it is the one promoted: nothing acknowledged is lost. (After
  the promotion the new primary has no replica: each enqueue waits its `wait_timeout`, warns,
  and stands on the primary.)

One kill of each in CI; `TASKRUNNER_FAILOVER_ROUNDS=N` repeats both N times (a cluster each)
for the counts docs/backends.md reports.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets

import pytest

from taskrunner import BackendError, TaskRunner
from tests.redis import failover
from tests.redis.cluster import LocalCluster, local_cluster
from tests.redis.slots import key_slot

pytestmark = pytest.mark.slow

ROUNDS = int(os.environ.get("TASKRUNNER_FAILOVER_ROUNDS", "1"))
PRODUCERS = 16  # enqueues in flight at once
BEFORE_KILL = 300  # jobs acknowledged before the kill
# jobs acknowledged after the promotion, before the count (with wait_replicas each takes
# wait_timeout then: the promoted replica has no replica of its own)
AFTER_PROMOTION = 2 * PRODUCERS
# a replica each; a short node timeout, so the others fail the killed primary in a second
SHAPE = {"primaries": 3, "replicas": 1, "node_timeout_ms": 1000}


class Ledger:
    """Producers enqueueing to one queue, and the ids whose enqueue returned."""

    def __init__(self, runner: TaskRunner, queue: str) -> None:
        self.task = runner.tasks[failover.TASK].options(queue=queue)
        self.runner = runner
        self.acknowledged: list[str] = []
        self.refused = 0  # enqueues that raised BackendError (the app tries again)
        self._numbers = itertools.count()
        self._stop = asyncio.Event()

    async def produce(self) -> None:
        while not self._stop.is_set():
            try:
                job = await self.task.enqueue(next(self._numbers))
            except BackendError:
                self.refused += 1
                await asyncio.sleep(0.05)
            else:
                self.acknowledged.append(job.id)

    async def until(self, count: int) -> None:
        await failover.wait_for(lambda: len(self.acknowledged) >= count, f"{count} enqueues")

    def stop(self) -> None:
        self._stop.set()

    async def lost(self) -> list[str]:
        """The acknowledged ids no primary has now."""
        return [i for i in self.acknowledged if await failover.record(self.runner, i) is None]


async def kill_while_enqueueing(cluster: LocalCluster, wait: bool) -> tuple[int, int, int]:
    """SIGKILL the primary of a queue while PRODUCERS enqueue to it; (acknowledged, lost,
    refused) once the replica is promoted."""
    queue = cluster.queues_on_each_primary("fl-")[0][0]
    options = "&wait_replicas=1&wait_timeout=1" if wait else ""
    runner = failover.doubling_runner(f"{cluster.url}?prefix=trfl-{secrets.token_hex(4)}{options}")
    ledger = Ledger(runner, queue)
    try:
        producers = [asyncio.create_task(ledger.produce()) for _ in range(PRODUCERS)]
        await ledger.until(BEFORE_KILL)
        primary = cluster.owner(key_slot(queue.encode()))
        heir = cluster.replica_of(primary)
        assert primary.proc is not None
        primary.proc.kill()
        await asyncio.to_thread(primary.proc.wait, 10)
        await failover.wait_for(lambda: cluster.role(heir) == "master", "the promotion")
        await ledger.until(len(ledger.acknowledged) + AFTER_PROMOTION)
        ledger.stop()
        await asyncio.gather(*producers)
        lost = await ledger.lost()
        return len(ledger.acknowledged), len(lost), ledger.refused
    finally:
        await runner.close()


@pytest.mark.parametrize("wait", [False, True], ids=["no wait", "wait_replicas=1"])
async def test_what_a_killed_primary_loses(
    tmp_path_factory: pytest.TempPathFactory, wait: bool
) -> None:
    counts = []
    for n in range(ROUNDS):
        with local_cluster(tmp_path_factory.mktemp(f"loss{n}"), **SHAPE) as cluster:
            counts.append(await kill_while_enqueueing(cluster, wait))
    acknowledged, lost, refused = (sum(column) for column in zip(*counts, strict=True))
    print(
        f"failover loss ({'wait_replicas=1' if wait else 'no wait'}): {lost} of {acknowledged} "
        f"acknowledged enqueues lost over {ROUNDS} kills ({refused} enqueues refused meanwhile); "
        f"per kill: {[c[1] for c in counts]}"
    )
    if wait:
        assert lost == 0
