"""The backend's Redis functions: one library named by the hash of its code, loaded again
when Redis lost it, beside another version's; each call starts from fresh state."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from taskrunner import TaskRunner
from taskrunner.registry import TaskSpec
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.library import PRELUDE, lua_source
from taskrunner_redis.scripts import library
from tests.redis.server import RedisServer, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_server(tmp_path, persistent=False) as server:
        yield server


@pytest.fixture
async def admin(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    yield client
    await client.aclose()


async def libraries(admin: aioredis.Redis) -> dict[str, list[str]]:
    listed = await admin.execute_command("FUNCTION", "LIST")  # type: ignore[no-untyped-call]
    entries = [fields(entry) for entry in listed]
    return {e["library_name"]: [fields(f)["name"] for f in e["functions"]] for e in entries}


def fields(entry: dict[str, Any] | list[Any]) -> dict[str, Any]:
    """An entry of FUNCTION LIST's answer (redis-py answers pairs, or a dict)."""
    return entry if isinstance(entry, dict) else dict(zip(entry[::2], entry[1::2], strict=True))


async def test_the_library_is_loaded_again_once_redis_lost_it(
    server: RedisServer, admin: aioredis.Redis
) -> None:
    backend = RedisBackend(server.url)
    await backend.connect()
    try:
        await backend.enqueue([new_job()])
        own = library()
        assert sorted((await libraries(admin))[own.name]) == sorted(own.functions.values())
        for jobs in ([new_job()], [new_job(queue="a"), new_job(queue="b")]):
            # lost: then one call, then several in one round trip, find it missing
            await admin.execute_command("FUNCTION", "FLUSH")  # type: ignore[no-untyped-call]
            await backend.enqueue(jobs)
        stats = await backend.stats()
        assert sum(counts[state] for counts in stats.values() for state in counts) == 4
    finally:
        await backend.close()


async def test_another_version_s_library_loads_beside_this_one(
    server: RedisServer, admin: aioredis.Redis
) -> None:
    own = library()
    other_hash = "0123456789abcdef"
    other = own.code.replace(own.name, f"taskrunner_{other_hash}")
    await admin.execute_command("FUNCTION", "LOAD", other)  # type: ignore[no-untyped-call]
    backend = RedisBackend(server.url)
    await backend.connect()
    try:
        await backend.enqueue([new_job()])  # loads its own beside it
        assert {own.name, f"taskrunner_{other_hash}"} <= set(await libraries(admin))
        assert len(await backend.claim(["default"], 5, "w", 30)) == 1
    finally:
        await backend.close()


async def test_after_a_restart_the_worker_brings_back_both_libraries_and_the_registry(
    server: RedisServer,
) -> None:
    runner = TaskRunner(server.url)

    @runner.task(name="math.double", queue="math")
    def double(n: int) -> int:
        return 2 * n

    await runner.connect()
    backend = runner.backend
    assert isinstance(backend, RedisBackend)
    await backend.publish_tasks({"math.double": TaskSpec.of(double).encode()})
    server.stop()  # it keeps nothing on disk: data and functions are gone
    server.start()
    await backend.reclaim()  # a worker's upkeep: finds the registry lost, publishes it again
    client = aioredis.Redis.from_url(server.url)
    try:
        document = '{"task": "math.double", "args": [21]}'
        job_id = await client.fcall("taskrunner_enqueue", 1, backend.keys.route("math"), document)
    finally:
        await client.aclose()
    await runner.worker(queues=["math"], burst=True).run()
    info = await runner.get_job(job_id.decode())
    assert info is not None and info.result == 42
    await runner.close()


def test_every_piece_of_per_call_state_is_reset_when_a_call_begins() -> None:
    """A library's top-level locals outlive a call: each that a call changes (not a
    function, not a CONSTANT) must be emptied by begin() (common.lua's `resets`)."""
    declared: set[str] = set()
    reset: set[str] = set()
    for name in PRELUDE:
        for line in lua_source(name).splitlines():
            if match := re.match(r"local ([a-z_][a-z_0-9, ]*) = (?!function)", line):
                declared |= {n.strip() for n in match.group(1).split(",")}
            if match := re.match(r"resets\[#resets \+ 1\] = function\(\) (.*) end$", line):
                reset |= set(re.findall(r"([a-z_]+)\s*(?:,|=)", match.group(1)))
    assert declared - {"resets"} == reset
