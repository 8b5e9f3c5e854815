"""The Redis backend on a real Redis Cluster: three primaries started by the tests on free
local ports, with queues on every one of them (redis+cluster:// URLs).

The whole conformance suite and the backend model run against it; a worker takes jobs from
queues on three primaries and waits on all of them at once; jobs are found by id from a
process that never saw them; the operations commands and the dashboard read the cluster.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hypothesis.stateful import run_state_machine_as_test
from typer.testing import CliRunner

from taskrunner import ConfigurationError, JobState, TaskRunner
from taskrunner.backend import Outcome, OutcomeKind
from taskrunner.cli import app
from taskrunner.dashboard import dashboard
from taskrunner.testing import BackendConformance, InspectionConformance, new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.scripts import library
from tests.dashboard.conftest import TOKEN, client_for, log_in, seed
from tests.dashboard.conftest import make_runner as dashboard_runner
from tests.helpers import drain, eventually
from tests.model.machine import settings_for
from tests.model.test_model import RedisMachine
from tests.redis.cluster import LocalCluster, local_cluster
from tests.redis.conftest import delete_prefix
from tests.redis.slots import key_slot
from tests.redis.test_functions import fields

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def three_primaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("cluster3"), primaries=3) as cluster:
        yield cluster


async def delete_cluster_prefix(cluster: LocalCluster, prefix: str) -> None:
    """Delete a test's keys from every primary (each holds its own slots' keys)."""
    for node in cluster.primaries:
        await delete_prefix(f"redis://127.0.0.1:{node.port}/0", prefix)


@pytest.fixture
def cluster_url(three_primaries: LocalCluster) -> Iterator[str]:
    """The cluster's URL with a key prefix of the test's own, deleted afterwards."""
    prefix = f"trnodes-{secrets.token_hex(6)}"
    yield f"{three_primaries.url}?prefix={prefix}"
    asyncio.run(delete_cluster_prefix(three_primaries, prefix))


@pytest.fixture
async def cluster_backend(cluster_url: str) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(cluster_url)
    await backend.connect()
    yield backend
    await backend.close()


@pytest.fixture
def spread(three_primaries: LocalCluster) -> list[str]:
    """One queue name on each primary, in the primaries' order."""
    return [names[0] for names in three_primaries.queues_on_each_primary("spread-")]


class TestRedisThreePrimaries(BackendConformance, InspectionConformance):
    @pytest.fixture
    def backend(self, cluster_backend: RedisBackend) -> RedisBackend:
        return cluster_backend


def test_the_conformance_queues_live_on_every_primary(three_primaries: LocalCluster) -> None:
    """The suite's own queue names ("default", "a", "b") sit on three different primaries,
    so its multi-queue tests cross nodes."""
    owners = {three_primaries.owner(key_slot(q.encode())).port for q in ("default", "a", "b")}
    assert len(owners) == 3


class ClusterMachine(RedisMachine):
    urls: tuple[str, ...] = ()  # set by the test: the cluster's URL, then its primaries'


def test_the_backend_model_holds_on_the_cluster(three_primaries: LocalCluster) -> None:
    primaries = [f"redis://127.0.0.1:{node.port}/0" for node in three_primaries.primaries]
    ClusterMachine.urls = (three_primaries.url, *primaries)
    run_state_machine_as_test(ClusterMachine, settings=settings_for(examples=8, steps=30))


async def test_a_worker_takes_jobs_from_queues_on_three_primaries(
    cluster_backend: RedisBackend, spread: list[str]
) -> None:
    runner = TaskRunner(cluster_backend.url, backend=cluster_backend)

    @runner.task(name="nodes.echo", retries=1, backoff=lambda _: 0.0)
    async def echo(value: str, fail: bool = False) -> str:
        if fail and current_attempt(value):
            raise RuntimeError("once")
        return value

    tries: dict[str, int] = {}

    def current_attempt(value: str) -> bool:
        tries[value] = tries.get(value, 0) + 1
        return tries[value] == 1

    jobs = [await echo.options(queue=q).enqueue(q, fail=(q == spread[1])) for q in spread]
    await drain(runner, queues=spread)

    assert [await job.result(timeout=10) for job in jobs] == spread
    stats = await runner.stats()
    assert {q: stats[q][JobState.SUCCEEDED] for q in spread} == dict.fromkeys(spread, 1)
    listed = await runner.list_jobs(limit=10)
    assert sorted(job.id for job in listed.jobs) == sorted(job.id for job in jobs)


async def blocked_on(port: int) -> int:
    """How many clients of the node at `port` are blocked in a BLPOP now."""
    client = aioredis.Redis(port=port)
    try:
        clients = await client.client_list()
    finally:
        await client.aclose()
    return sum(1 for c in clients if c["cmd"] == "blpop" and "b" in c["flags"])


async def test_one_wait_blocks_on_every_primary_and_an_enqueue_on_any_ends_it(
    cluster_backend: RedisBackend, spread: list[str], three_primaries: LocalCluster
) -> None:
    for target in spread:
        waiting = asyncio.create_task(cluster_backend.wait(spread, timeout=60))
        for node in three_primaries.primaries:  # a blocking pop on each queue's primary
            await eventually(functools.partial(blocked_on, node.port), timeout=10)
        await cluster_backend.enqueue([new_job(queue=target)])
        await asyncio.wait_for(waiting, 30)  # a bound for a hang, far above the wait's cap
        client = aioredis.Redis(port=three_primaries.owner(key_slot(target.encode())).port)
        try:
            # the enqueue's wake token was taken by the wait (a timeout would have left it)
            assert await client.llen(cluster_backend.keys.queue(target, "wake")) == 0
        finally:
            await client.aclose()
        await cluster_backend.claim([target], 1, "w", 30)


async def test_pub_sub_reaches_waiters_and_workers_across_primaries(
    cluster_backend: RedisBackend, cluster_url: str, spread: list[str]
) -> None:
    """A finish on one primary wakes `wait_finished`, and a cancel reaches a worker's
    listener, whichever node each subscription landed on."""
    other = RedisBackend(cluster_url)
    await other.connect()
    try:
        ids = await cluster_backend.enqueue([new_job(queue=q) for q in spread])
        claimed = await cluster_backend.claim(spread, 3, "w", 30)
        assert sorted(r.id for r in claimed) == sorted(ids)
        async with cluster_backend.cancel_requests() as inbox:
            assert await other.cancel([ids[0]], None) == [JobState.RUNNING]
            assert await asyncio.wait_for(anext(inbox), 30) == [ids[0]]
        waiting = asyncio.create_task(other.wait_finished(ids[2], timeout=30))
        done = next(r for r in claimed if r.id == ids[2])
        await eventually(lambda: _watched(cluster_backend, spread[2], ids[2]), timeout=10)
        await cluster_backend.finish(
            [Outcome(done.id, done.attempt, OutcomeKind.SUCCEEDED, result=b"1", queue=spread[2])]
        )
        record = await waiting
        assert record is not None and record.state is JobState.SUCCEEDED
    finally:
        await other.close()


async def _watched(backend: RedisBackend, queue: str, job_id: str) -> bool:
    client, _ = backend._store.connected()
    return await client.zscore(backend.keys.queue(queue, "waiters"), job_id) is not None


def test_jobs_are_found_by_id_from_another_process_and_the_cli_reads_the_cluster(
    cluster_url: str, spread: list[str], tmp_path: Path
) -> None:
    async def seed() -> list[str]:
        runner = TaskRunner(cluster_url)

        @runner.task(name="nodes.size")
        async def size(text: str) -> int:
            return len(text)

        try:
            jobs = [await size.options(queue=q).enqueue(q * 2) for q in spread]
            await drain(runner, queues=spread[:2])
            return [job.id for job in jobs]
        finally:
            await runner.close()

    ids = asyncio.run(seed())
    shown = subprocess.run(
        [sys.executable, "-m", "taskrunner", "job", ids[1], "--url", cluster_url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert (job["state"], job["queue"], job["result"]) == (
        "succeeded",
        spread[1],
        2 * len(spread[1]),
    )

    cli = CliRunner()
    stats = json.loads(cli.invoke(app, ["stats", "--url", cluster_url, "--json"]).output)
    counts = {q: stats["queues"][q]["counts"] for q in spread}
    assert [(c["succeeded"], c["queued"]) for c in counts.values()] == [(1, 0), (1, 0), (0, 1)]
    listed = json.loads(cli.invoke(app, ["jobs", "--url", cluster_url, "--json"]).output)
    assert [j["id"] for j in listed["jobs"]] == ids[::-1]


async def test_a_primary_that_lost_the_library_gets_it_again(
    cluster_backend: RedisBackend, spread: list[str], three_primaries: LocalCluster
) -> None:
    await cluster_backend.enqueue([new_job(queue=q) for q in spread])
    name = library().name
    for node in three_primaries.primaries:  # loaded on every primary
        assert name in await function_libraries(node.port)
    lost = three_primaries.primaries[1]
    admin = aioredis.Redis(port=lost.port)
    try:
        await admin.execute_command("FUNCTION", "FLUSH")  # type: ignore[no-untyped-call]
    finally:
        await admin.aclose()
    # one call to that primary, then calls to all three in one round trip, find it missing
    await cluster_backend.enqueue([new_job(queue=spread[1])])
    await cluster_backend.enqueue([new_job(queue=q) for q in spread])
    assert name in await function_libraries(lost.port)
    stats = await cluster_backend.stats(spread)
    assert [stats[q][JobState.QUEUED] for q in spread] == [2, 3, 2]


async def function_libraries(port: int) -> list[str]:
    client = aioredis.Redis(port=port, decode_responses=True)
    try:
        listed = await client.execute_command("FUNCTION", "LIST")  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()
    return [fields(entry)["library_name"] for entry in listed]


async def test_a_primary_that_may_evict_any_key_is_refused(
    cluster_url: str, three_primaries: LocalCluster
) -> None:
    evicting = three_primaries.primaries[2]
    admin = aioredis.Redis(port=evicting.port)
    await admin.config_set("maxmemory-policy", "allkeys-lru")
    try:
        backend = RedisBackend(cluster_url)
        with pytest.raises(ConfigurationError, match=f"primary 127.0.0.1:{evicting.port}.*allkeys"):
            await backend.connect()
        accepting = RedisBackend(f"{cluster_url}&allow_eviction=true")
        await accepting.connect()  # the URL accepts it (with a warning)
        await accepting.close()
    finally:
        await admin.config_set("maxmemory-policy", "noeviction")
        await admin.aclose()


async def test_the_dashboard_reads_the_cluster(cluster_url: str, spread: list[str]) -> None:
    runner = dashboard_runner(cluster_url)
    try:
        seeded = await seed(runner)  # on "default", and "reports" by its schedule
        ok = runner.tasks["dash.ok"]
        others = [await ok.options(queue=q).enqueue(n) for n, q in enumerate(spread)]
        async with client_for(dashboard(runner, token=TOKEN)) as client:
            await log_in(client)
            home = await client.get("/")
            listed = await client.get("/jobs")
            failed = await client.get(f"/jobs/{seeded.failed}")
        assert home.status_code == listed.status_code == failed.status_code == 200
        assert all(q in home.text for q in spread)
        assert all(job.id in listed.text for job in others)
        assert seeded.succeeded in listed.text and "ValueError" in failed.text
    finally:
        await runner.close()
