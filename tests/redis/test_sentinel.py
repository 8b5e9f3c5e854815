"""The Redis backend behind Sentinel (redis+sentinel:// URLs): one primary, one replica and
three sentinels started by the test on free local ports.

Quick (CI): workers and enqueuers reach the primary through the sentinels and run jobs. The
failover (the primary SIGKILLed, the replica promoted, everyone carrying on) runs too: it
takes a few seconds, most of them the sentinels' DOWN_AFTER_MS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from taskrunner import JobState
from tests.helpers import drain
from tests.redis.failover import (
    SETTLE,
    TASK,
    all_finished,
    doubling_runner,
    enqueue_until_stored,
    record,
)
from tests.redis.sentinel import SentinelGroup, sentinel_group

pytestmark = pytest.mark.slow


@pytest.fixture
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    with sentinel_group(tmp_path_factory.mktemp("sentinel")) as started:
        yield started


async def test_jobs_run_through_the_sentinels(group: SentinelGroup) -> None:
    runner = doubling_runner(group.url(db=2) + "?prefix=trsent")
    try:
        double = runner.tasks[TASK]
        jobs = [await double.enqueue(n) for n in range(5)]
        await drain(runner)
        assert [await job.result(timeout=SETTLE) for job in jobs] == [0, 2, 4, 6, 8]
    finally:
        await runner.close()
    primary = aioredis.Redis(port=group.primary.port, db=2)
    try:  # the jobs are on the primary the sentinels named, in the URL's database
        assert await primary.exists(f"trsent:{{default}}:job:{jobs[0].id}") == 1
    finally:
        await primary.aclose()


async def test_workers_and_enqueuers_carry_on_when_the_primary_dies(
    group: SentinelGroup,
) -> None:
    runner = doubling_runner(group.url() + "?prefix=trfail")
    try:
        # a short lease: a job whose claim or outcome the dead primary had not yet copied to
        # the replica is still running there, and runs again once its lease runs out
        async with runner.worker(concurrency=4, lease=3, reclaim_interval=1):
            before = [await enqueue_until_stored(runner, n) for n in range(20)]
            await asyncio.to_thread(group.kill_primary)
            during = [await enqueue_until_stored(runner, n) for n in range(20, 25)]
            await asyncio.to_thread(group.wait_until, group.promoted, "the replica's promotion")
            after = [await enqueue_until_stored(runner, n) for n in range(25, 45)]
            # Replication is asynchronous: a job the primary stored but had not sent on before
            # it died is lost with it (wait_replicas=1 closes that gap). Every job enqueued once
            # the sentinels had reached the replica runs, and so does every job the replica has.
            found = {i: await record(runner, i) for i in before + during}
            kept = [i for i, r in found.items() if r is not None]
            records = await asyncio.wait_for(all_finished(runner, kept + after), SETTLE)
        assert all(r.state is JobState.SUCCEEDED for r in records)
        assert [r.result for r in records[len(kept) :]] == [2 * n for n in range(25, 45)]
        lost = len(before) + len(during) - len(kept)
        print(f"lost to the failover: {lost} of the {len(before)} jobs stored before it")
        assert all(found[i] is not None for i in during)
    finally:
        await runner.close()


async def test_wait_replicas_returns_once_the_replica_has_the_jobs(
    group: SentinelGroup, caplog: pytest.LogCaptureFixture
) -> None:
    assert group.replica is not None
    replica = aioredis.Redis(port=group.replica.port)
    runner = doubling_runner(group.url() + "?prefix=trwait&wait_replicas=1&wait_timeout=30")
    try:
        double = runner.tasks[TASK]
        for jobs in ([double.prepare(1)], [double.prepare(n) for n in range(2, 6)]):
            ids = [job.id for job in await runner.enqueue_many(jobs)]
            # WAIT answered: the replica has them the moment enqueue returns
            for job_id in ids:
                assert await replica.exists(f"trwait:{{default}}:job:{job_id}") == 1
        assert "replicas asked for" not in caplog.text
    finally:
        await runner.close()
        await replica.aclose()


async def test_fewer_replicas_than_asked_is_a_warning_and_the_job_stays(
    group: SentinelGroup, caplog: pytest.LogCaptureFixture
) -> None:
    runner = doubling_runner(group.url() + "?prefix=trwait2&wait_replicas=2&wait_timeout=0.05")
    try:
        job = await runner.tasks[TASK].enqueue(21)
        assert "only 1 of the 2 replicas asked for (wait_replicas) confirmed" in caplog.text
        await drain(runner)
        assert await job.result(timeout=SETTLE) == 42
    finally:
        await runner.close()
