"""A Redis that may evict waiting jobs is refused; a full Redis refuses writes cleanly.

Each test runs a redis-server of its own with a `maxmemory` and a `maxmemory-policy`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from taskrunner import JobState
from taskrunner.backend import Beat, LeaseStatus, Outcome, OutcomeKind
from taskrunner.errors import BackendError, ConfigurationError
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from tests.redis.server import RedisServer, running_server

PAYLOAD = b'{"args":["' + b"x" * 2000 + b'"],"kwargs":{}}'


@pytest.fixture
def server(tmp_path: Path, policy: str) -> Iterator[RedisServer]:
    """A redis-server of the test's own with `--maxmemory 4mb` and the `policy` the test is
    parametrized with."""
    options = ["--maxmemory", "4mb", "--maxmemory-policy", policy]
    with running_server(tmp_path, persistent=False, options=options) as server:
        yield server


async def connected(url: str) -> RedisBackend:
    backend = RedisBackend(url)
    await backend.connect()
    return backend


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
async def test_a_redis_that_may_evict_any_key_is_refused(server: RedisServer) -> None:
    with pytest.raises(ConfigurationError, match="maxmemory-policy") as refused:
        await connected(server.url)
    assert "noeviction" in str(refused.value) and "allow_eviction=true" in str(refused.value)


@pytest.mark.parametrize("policy", ["allkeys-lru"])
async def test_the_url_may_accept_eviction_and_is_warned(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="taskrunner.redis"):
        backend = await connected(f"{server.url}?allow_eviction=true")
    await backend.close()
    assert "allkeys-lru" in caplog.text and "vanish" in caplog.text


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru", "volatile-ttl"])
async def test_policies_that_keep_waiting_jobs_are_accepted(server: RedisServer) -> None:
    backend = await connected(server.url)
    await backend.close()


@pytest.mark.parametrize("policy", ["allkeys-lru"])
async def test_the_policy_is_read_where_config_is_forbidden(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    admin = aioredis.Redis(port=server.port)
    try:  # as managed services do: CONFIG renamed or forbidden, INFO sometimes too
        await admin.acl_setuser("app", enabled=True, passwords=["+pw"], keys="*",
                                channels="*", commands=["+@all", "-config"])  # fmt: skip
        await admin.acl_setuser("blind", enabled=True, passwords=["+pw"], keys="*",
                                channels="*", commands=["+@all", "-config", "-info"])  # fmt: skip
    finally:
        await admin.aclose()
    with pytest.raises(ConfigurationError, match="allkeys-lru"):
        await connected(f"redis://app:pw@127.0.0.1:{server.port}/0")
    with caplog.at_level(logging.WARNING, logger="taskrunner.redis"):
        backend = await connected(f"redis://blind:pw@127.0.0.1:{server.port}/0")
    await backend.close()
    assert "could not read the maxmemory-policy" in caplog.text


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru"])
async def test_a_full_redis_refuses_enqueues_and_keeps_every_waiting_job(
    server: RedisServer, policy: str
) -> None:
    backend = await connected(server.url)
    try:
        finished = [new_job(payload=PAYLOAD) for _ in range(100)]
        await backend.enqueue(finished)
        claimed = await backend.claim(["default"], 100, "w-1", 30)
        # kept an hour: under volatile-* Redis may evict these records to make room
        outcomes = [
            Outcome(r.id, r.attempt, OutcomeKind.SUCCEEDED, result=PAYLOAD, ttl=3600)
            for r in claimed
        ]
        assert await backend.finish(outcomes) == [True] * 100
        stored: list[str] = []

        async def fill() -> None:
            for _ in range(10_000):  # far more than 4 MB holds
                stored.extend(await backend.enqueue([new_job(payload=PAYLOAD) for _ in range(20)]))

        with pytest.raises(BackendError, match="is full") as full:
            await fill()
        assert "maxmemory" in str(full.value)
        assert len(stored) > 20
        records = await backend.get(stored)
        assert all(record is not None and record.state is JobState.QUEUED for record in records)
        kept = await backend.get([job.id for job in finished])
        evicted = sum(record is None for record in kept)
        assert evicted == 0 if policy == "noeviction" else evicted > 0
        if policy == "noeviction":  # a finished job can be deleted once Redis was full
            assert await backend.delete([finished[0].id]) == [True]
        assert await backend.purge([JobState.QUEUED]) == len(stored)  # frees memory when full
    finally:
        await backend.close()


def test_allow_eviction_takes_true_or_false() -> None:
    assert RedisBackend("redis://h/0?allow_eviction=true").settings.allow_eviction
    assert not RedisBackend("redis://h/0?allow_eviction=0").settings.allow_eviction
    with pytest.raises(ConfigurationError, match="allow_eviction='maybe' must be true or false"):
        RedisBackend("redis://h/0?allow_eviction=maybe")


@pytest.mark.parametrize("policy", ["noeviction"])
async def test_a_full_redis_still_renews_leases(server: RedisServer, policy: str) -> None:
    # A full Redis refuses what would grow it, but a running job's heartbeat only rewrites
    # its lease: refused, the lease would run out and the job run twice.
    backend = await connected(server.url)
    try:
        await backend.enqueue([new_job()])
        (running,) = await backend.claim(["default"], 1, "w-1", 30)

        async def fill() -> None:
            for _ in range(10_000):  # far more than 4 MB holds
                await backend.enqueue([new_job(payload=PAYLOAD) for _ in range(20)])

        with pytest.raises(BackendError, match="is full"):
            await fill()
        admin = aioredis.Redis(port=server.port)
        try:  # well over its limit now, whatever it freed since the refusal
            await admin.config_set("maxmemory", "1mb")
        finally:
            await admin.aclose()
        beat = Beat(running.id, running.attempt, progress=b"0.5", queue="default")
        assert await backend.heartbeat([beat], 30) == [LeaseStatus.HELD]
        (record,) = await backend.get([running.id])
        assert record is not None and record.progress == b"0.5"
    finally:
        await backend.close()
