"""Bad input to FCALL taskrunner_enqueue gets an error reply saying what is wrong, writes
nothing, and is refused by a Python enqueue of the same document too (but for the few rules
of the function's own, OWN_RULES)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from tests.redis.conftest import REDIS_URL
from tests.redis.door import TINY_PAYLOAD, publish, python_refuses, refusal

SYNC = '"task": "crm.sync", "args": [7], "kwargs": {"reason": "x"}'

REFUSED: list[tuple[str, str | bytes, str]] = [
    ("crm", '{"task": "crm.sync", ', "not valid JSON: an unexpected end"),
    ("crm", "[1, 2]", "a job document is a JSON object"),
    ("crm", "{" + SYNC + ', "bogus": 1, "zz": 2}', "unknown field(s) 'bogus', 'zz'"),
    ("crm", '{"task": 7}', "task must be a task's name"),
    ("crm", '{"task": "nope.nope"}', "no task named 'nope.nope' is registered on queue 'crm'"),
    ("crm", '{"task": "crm.sync\\u0000{x}"}', "no task named 'crm.sync?{x}'"),
    ("crm", '{"task": "' + "x" * 5000 + '"}', "no task named 'xxxxxxxx"),
    ("crm", '{"task": "crm.sync", "args": {}}', "args must be a JSON list"),
    ("crm", '{"task": "crm.sync", "kwargs": null}', "kwargs a JSON object"),
    ("crm", "{" + SYNC + ', "priority": "high"}', "priority must be an integer, got"),
    ("crm", "{" + SYNC + ', "priority": true}', "priority must be an integer"),
    ("crm", "{" + SYNC + ', "priority": 1.5}', "priority must be an integer"),
    ("crm", "{" + SYNC + ', "priority": 40000}', "out of range -32768..32767"),
    ("crm", "{" + SYNC + ', "retries": -1}', "retries must be an int >= 0"),
    ("crm", "{" + SYNC + ', "delay": -5}', "delay must not be negative"),
    ("crm", "{" + SYNC + ', "delay": 1e12}', "at most 315360000 seconds"),
    ("crm", "{" + SYNC + ', "delay": 1, "run_at": 1}', "either delay= or at="),
    ("crm", "{" + SYNC + ', "run_at": "2030-01-01T09:00:00"}', "needs its UTC offset"),
    ("crm", "{" + SYNC + ', "run_at": "tomorrow"}', "run_at 'tomorrow'"),
    ("crm", "{" + SYNC + ', "run_at": "2030-02-30T09:00:00Z"}', "run_at"),
    ("crm", "{" + SYNC + ', "run_at": "2099-01-01T00:00:00Z"}', "ten years"),
    ("crm", "{" + SYNC + ', "timeout": 0}', "timeout must be > 0 seconds"),
    ("crm", "{" + SYNC + ', "key_ttl": 5}', "key_ttl= needs a dedup key"),
    ("crm", "{" + SYNC + ', "key": ""}', "dedup key must be a non-empty string"),
    ("crm", "{" + SYNC + ', "key": "a\\u0001b"}', "contains control characters"),
    ("crm", "{" + SYNC + ', "key": "' + "k" * 257 + '"}', "at most 256 are allowed"),
    ("crm", "{" + SYNC + ', "run_anyway": true}', "run_anyway= needs jobs to wait on"),
    ("crm", "{" + SYNC + ', "format": 2}', "job document format '2'"),
    ("crm", "{" + SYNC + ', "queue": "bad queue!"}', "queue name 'bad queue!' is not allowed"),
    ("crm", '{"task": "crm.sync", "args": [7]}', "missing a required argument: 'reason'"),
    (
        "crm",
        '{"task": "crm.sync", "args": [1, 2, 3], "kwargs": {"reason": "x"}}',
        "too many positional arguments",
    ),
    (
        "crm",
        '{"task": "crm.sync", "args": [7], "kwargs": {"reason": "x", "why": 1}}',
        "got an unexpected keyword argument 'why'",
    ),
    (
        "crm",
        '{"task": "crm.sync", "kwargs": {"customer_id": 7, "reason": "x"}}',
        "'customer_id' parameter is positional only",
    ),
    ("crm", '{"task": "crm.computed", "args": ["acme"]}', "computed by Python code"),
    ("mail", '{"task": "mail.send", "args": ["a"], "limit_key": "k"}', "has no Limit"),
    (
        "mail",
        '{"task": "tiny.note", "args": ["' + "x" * TINY_PAYLOAD + '"]}',
        f"over the limit of {TINY_PAYLOAD}",
    ),
    ("mail", '{"task": "mail.send", "args": [NaN]}', "not valid JSON"),
    ("mail", '{"task": "mail.send", "args": [1,]}', "not valid JSON"),
    ("mail", '{"task": "mail.send", "args": [01]}', "a number with a leading zero"),
    ("mail", '{"task": "mail.send", "args": ["\\ud800"]}', "a high surrogate without its low"),
    ("mail", b'{"task": "mail.send", "args": ["\xff"]}', "a string that is not UTF-8"),
    ("mail", b'{"task": "mail.send", "args": ["\xed\xa0\x80"]}', "not UTF-8"),
    ("mail", '{"task": "mail.send", "args": ["a"]} x', "text after the JSON value"),
    (
        "mail",
        '{"task": "mail.send", "args": ' + "[" * 254 + "]" * 254 + "}",
        "more than 254 nested levels",
    ),
]
OWN_RULES: list[tuple[str, str | bytes, str]] = [  # a Python enqueue takes these
    ("crm", "{" + SYNC + ', "queue": "mail"}', "but the key names queue 'crm'"),
    ("mail", '{"task": "mail.send", "args": ["a"], "after": ["x"]}', "after is not taken"),
    ("mail", '{"task": "mail.send", "task": "mail.send", "args": ["a"]}', "gives 'task' twice"),
    (
        "crm",
        '{"task": "crm.sync", "args": [1.5], "kwargs": {"reason": "x"}}',
        "reads 'customer_id', which is no string, integer, true, false or null: pass limit_key",
    ),
    ("crm", '{"task": "crm.sync", "args": [[1]], "kwargs": {"reason": "x"}}', "no string"),
]


async def snapshot(prefix: str) -> dict[bytes, object]:
    """Every key of the prefix, with its value (DUMP's bytes vary with a hash's layout)."""
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        return {key: await value_of(client, key) for key in keys}
    finally:
        await client.aclose()


async def value_of(client: aioredis.Redis, key: bytes) -> object:
    kind = await client.type(key)
    if kind == b"hash":
        return await client.hgetall(key)
    if kind == b"zset":
        return await client.zrange(key, 0, -1, withscores=True)
    if kind == b"set":
        return await client.smembers(key)
    if kind == b"list":
        return await client.lrange(key, 0, -1)
    return await client.get(key)


@pytest.mark.parametrize(("queue", "document", "said"), REFUSED + OWN_RULES)
async def test_bad_input_is_refused_with_a_reason_and_writes_nothing(
    redis_url: str, redis_prefix: str, queue: str, document: str | bytes, said: str
) -> None:
    await publish(redis_url)
    before = await snapshot(redis_prefix)
    error = await refusal(f"{redis_prefix}:{{{queue}}}:prios", document)
    assert await snapshot(redis_prefix) == before
    assert said in error and "\n" not in error and len(error) < 1000
    if (queue, document, said) not in OWN_RULES:
        assert await python_refuses(redis_url, document)


@pytest.mark.parametrize(
    "key",
    ["nope", "{crm}:prios", "{prefix}:{crm}:prios", "p:{crm}:ready:0", "p:{a{b}:prios", ""],
)
async def test_a_key_that_is_no_queue_s_route_key_is_refused(redis_prefix: str, key: str) -> None:
    error = await refusal(key, "{" + SYNC + "}")
    assert "names no queue" in error and "FCALL taskrunner_enqueue 1" in error


@pytest.mark.parametrize("second", ["p:{crm}:absent", "{crm}:absent", "PREFIX:{mail}:absent"])
async def test_a_second_key_but_the_queue_s_absent_key_is_refused(
    redis_url: str, redis_prefix: str, second: str
) -> None:
    await publish(redis_url)
    before = await snapshot(redis_prefix)
    wrong = second.replace("PREFIX", redis_prefix)
    error = await refusal(f"{redis_prefix}:{{crm}}:prios", "{" + SYNC + "}", wrong)
    assert await snapshot(redis_prefix) == before
    assert f"the second key must be '{redis_prefix}:{{crm}}:absent'" in error


async def test_a_key_of_another_prefix_finds_no_task(redis_url: str, redis_prefix: str) -> None:
    await publish(redis_url)
    error = await refusal(f"{redis_prefix}x:{{crm}}:prios", "{" + SYNC + "}")
    assert "no task named 'crm.sync' is registered on queue 'crm'" in error
