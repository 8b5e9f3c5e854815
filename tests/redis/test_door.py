"""FCALL taskrunner_enqueue 1 <prefix>:{<queue>}:prios <job document>: a job enqueued from
any language, stored as a Python enqueue of the same document stores it, and run by a
Python worker; from redis-cli too."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit

import orjson
import pytest

from taskrunner import JobState, TaskRunner
from taskrunner.backend import Held
from taskrunner_redis import RedisBackend
from tests.redis.conftest import REDIS_URL
from tests.redis.door import fcall, make_runner, publish, python_enqueue, record_of

SAME_FIELDS = ("task", "queue", "priority", "max_attempts", "key", "state", "limit_key",
               "limit_max", "rate_key", "rate_max", "rate_per")  # fmt: skip

VALID = [
    ("crm", {"task": "crm.sync", "args": [7], "kwargs": {"reason": "signup"}}),
    ("crm", {"task": "crm.sync", "args": ["7", True], "kwargs": {"reason": "x"}, "priority": 3,
             "retries": 0, "rate_key": "vip", "delay": 30}),
    ("crm", {"task": "crm.sync", "args": [-0], "kwargs": {"reason": None, "full": False}}),
    ("crm", {"task": "crm.computed", "args": ["acme"], "limit_key": "a:acme"}),
    ("mail", {"task": "mail.send", "args": ["a@b.c", 1, 2.5e3, None, [], {"x": [{}]}],
              "kwargs": {"é": "ü \u2028 \"q\"", "n": -12}, "timeout": 30, "expires": 0.25,
              "key": "k:1"}),
    ("mail", {"format": 1, "task": "mail.send", "args": ["x"],
              "run_at": "2031-05-06T07:08:09.5+02:00"}),
    ("mail", {"task": "mail.send", "args": ["x"], "run_at": 1900000000.25, "queue": "mail"}),
    ("mail", {"task": "mail.send", "args": ["x"], "key": "w", "key_ttl": 60, "after": []}),
    ("mail", {"task": "tiny.note", "args": ["x" * 150]}),
    ("other", {"task": "crm.sync", "args": [1], "kwargs": {"reason": "y"}, "queue": "other"}),
    ("mail", {"task": "mail.send", "args": ["a]b\"}", {"}": "[\\", "k": [1, {"x": "]"}]}],
              "kwargs": {"x,y": ":", "": []}}),
    ("crm", '{"task":"crm.sync","args":[7],"kwargs":{"re\\u0061son":"\\ud83d\\ude00\\/"}}'),
    ("crm", '{"task":"crm.sync","args":["\\u00e9"],"kwargs":{"reason":""}}'),
]  # fmt: skip


@pytest.mark.parametrize(("queue", "document"), VALID)
async def test_a_document_is_stored_as_a_python_enqueue_stores_it(
    redis_url: str, redis_prefix: str, queue: str, document: dict[str, object] | str
) -> None:
    await publish(redis_url)
    text = document if isinstance(document, str) else orjson.dumps(document).decode()
    spaced = orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2)  # between tokens
    if isinstance(document, str):
        spaced = document.encode()  # as written, escapes and all
    job_id = await fcall(f"{redis_prefix}:{{{queue}}}:prios", spaced)
    assert uuid.UUID(job_id).version == 7 and str(uuid.UUID(job_id)) == job_id
    ours, theirs = await record_of(redis_url, job_id), await python_enqueue(redis_url, text)
    for field in SAME_FIELDS:
        assert getattr(ours, field) == getattr(theirs, field), field
    assert orjson.loads(ours.payload) == orjson.loads(theirs.payload)
    if "delay" in document:
        assert ours.run_at - ours.enqueued_at == theirs.run_at - theirs.enqueued_at
    if "run_at" in document:
        assert ours.run_at == theirs.run_at


async def test_a_dedup_key_answers_the_holder_s_id(redis_url: str, redis_prefix: str) -> None:
    await publish(redis_url)
    key = f"{redis_prefix}:{{mail}}:prios"
    document = '{"task": "mail.send", "args": ["a"], "key": "once"}'
    first = await fcall(key, document)
    assert await fcall(key, document) == first
    window = '{"task": "mail.send", "args": ["b"], "key": "w", "key_ttl": 30}'
    opener = await fcall(key, window)
    assert await fcall(key, window) == opener != first


async def test_ids_made_in_one_burst_are_uuid7_in_order(redis_url: str, redis_prefix: str) -> None:
    await publish(redis_url)
    key = f"{redis_prefix}:{{mail}}:prios"
    document = '{"task": "mail.send", "args": ["a"]}'
    ids = [await fcall(key, document) for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


@pytest.mark.parametrize("absent", [False, True], ids=["one key", "with the absent key"])
async def test_a_python_worker_runs_a_job_enqueued_by_the_function(
    redis_url: str, redis_prefix: str, absent: bool
) -> None:
    await publish(redis_url)
    more = [f"{redis_prefix}:{{mail}}:absent"] if absent else []
    document = '{"task": "math.add", "args": [2, 3]}'
    job_id = await fcall(f"{redis_prefix}:{{mail}}:prios", document, *more)
    runner = make_runner(redis_url)
    try:
        await runner.worker(queues=["mail"], burst=True).run()
        info = await runner.get_job(job_id)
        assert info is not None and info.state is JobState.SUCCEEDED and info.result == 5
    finally:
        await runner.close()


async def test_a_document_behind_held_jobs_of_its_key_is_held_at_once_as_in_python(
    redis_url: str, redis_prefix: str
) -> None:
    await publish(redis_url)
    document = '{"task": "crm.computed", "args": ["acme"], "limit_key": "a:acme"}'
    slot = f"{redis_prefix}:{{crm}}:prios"
    first = [await fcall(slot, document) for _ in range(3)]
    backend = RedisBackend(redis_url)
    try:
        await backend.connect()
        claimed = await backend.claim(["crm"], 10, "w-1", 30)
    finally:
        await backend.close()
    assert [record.id for record in claimed] == first[:1]  # the other two are held
    ours = await record_of(redis_url, await fcall(slot, document))
    theirs = await python_enqueue(redis_url, document)
    assert (ours.state, ours.held) == (theirs.state, theirs.held) == (JobState.QUEUED, Held.LIMIT)


def redis_cli(*args: str) -> str:
    where = urlsplit(REDIS_URL)
    command = ["redis-cli", "-h", where.hostname or "127.0.0.1", "-p", str(where.port or 6379)]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
async def test_redis_cli_enqueues_and_hears_what_is_wrong(
    redis_url: str, redis_prefix: str
) -> None:
    await publish(redis_url)
    key = f"{redis_prefix}:{{mail}}:prios"
    call = ("FCALL", "taskrunner_enqueue", "1", key)
    job_id = await asyncio.to_thread(redis_cli, *call, '{"task":"math.add","args":[20,22]}')
    assert uuid.UUID(job_id).version == 7
    wrong = await asyncio.to_thread(redis_cli, *call, '{"task":"math.add","args":[1]}')
    assert wrong.startswith("ERR task 'math.add' cannot take these arguments: missing")
    runner = TaskRunner(redis_url)
    try:
        runner.tasks.update(make_runner(redis_url).tasks)
        await runner.worker(queues=["mail"], burst=True).run()
        info = await runner.get_job(job_id)
        assert info is not None and info.result == 42
    finally:
        await runner.close()
