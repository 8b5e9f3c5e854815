"""The doors for code that is not Python agree (docs/any-language.md): the Redis function
`taskrunner_enqueue`, the SQL function `<schema>.enqueue(...)`, the dashboard's `POST
/api/jobs` and `taskrunner enqueue` without the app, each on the backends it serves (the
HTTP and CLI doors on SQLite too, which has no door of its own in the store). The
same call, given to each, stores the job a Python enqueue stores (the task's settings from
the registry its worker published, its limit and rate keys, the payload limit of the runner
that published it) and answers a dedup hit with the job holding the key; each kind of bad
input is refused with a clear error, and nothing is written. One test body per rule, run
on every door."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from typer.testing import CliRunner

from taskrunner import Limit, Rate, TaskRunner
from taskrunner.cli import app as cli_app
from taskrunner.dashboard.app import dashboard
from tests.chaos.conftest import POSTGRES, REDIS, drop_schema
from tests.dashboard.conftest import client_for
from tests.helpers import sqlite_url
from tests.redis.conftest import delete_prefix

TOKEN = "a-token-for-the-doors-0123456789"
MAX_PAYLOAD = 300  # the max_payload of the runner that publishes the tasks
QUEUES = {"doors.sync": "crm", "doors.note": "default", "doors.computed": "default"}
# a door, and the backend it is tried on
DOORS = [
    ("fcall", "redis"),
    ("sql", "postgres"),
    ("http", "redis"),
    ("http", "postgres"),
    ("http", "sqlite"),
    ("cli", "redis"),
    ("cli", "postgres"),
    ("cli", "sqlite"),
]


def published_app(url: str) -> TaskRunner:
    runner = TaskRunner(url, max_payload=MAX_PAYLOAD)

    @runner.task(name="doors.sync", queue="crm", retries=5, priority=-1,
                 limit=Limit(2, key="customer:{customer_id}"), rate=Rate(10, per=2.0))  # fmt: skip
    async def sync(customer_id: int, reason: str = "") -> None: ...

    @runner.task(name="doors.note")
    async def note(text: str) -> None: ...

    @runner.task(name="doors.computed", limit=Limit(1, key=lambda account: f"a:{account}"))
    async def computed(account: str) -> None: ...

    return runner


class Refused(Exception):
    """A door said no; the message is what it said."""


@dataclasses.dataclass(frozen=True)
class Call:
    """One enqueue, as neutral data: the task, its arguments, and options by the job
    document's names (a door maps them onto its own)."""

    task: str
    args: list[Any] = dataclasses.field(default_factory=list)
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {"task": self.task, "args": self.args, "kwargs": self.kwargs, **self.options}


@dataclasses.dataclass
class Door:
    kind: str
    url: str
    namespace: str

    async def send(self, call: Call) -> str:
        """Enqueue `call` through this door: the job id answered (Refused: its error)."""
        return await SENDERS[self.kind](self, call)


async def fcall(door: Door, call: Call) -> str:
    queue = call.options.get("queue") or QUEUES.get(call.task, "default")
    client = aioredis.Redis.from_url(REDIS)
    try:
        document = orjson.dumps(call.document())
        key = f"{door.namespace}:{{{queue}}}:prios"
        answer = await client.fcall("taskrunner_enqueue", 1, key, document)
    except ResponseError as exc:
        raise Refused(str(exc)) from None
    finally:
        await client.aclose()
    return bytes(answer).decode()


async def sql(door: Door, call: Call) -> str:
    options = dict(call.options)
    if "retries" in options:
        options["max_attempts"] = options.pop("retries") + 1
    named = "".join(f", {name} => ${i}" for i, name in enumerate(options, start=4))
    statement = f'SELECT "{door.namespace}".enqueue($1, $2::jsonb, $3::jsonb{named})'
    conn = await asyncpg.connect(POSTGRES)
    try:
        arguments = [orjson.dumps(call.args).decode(), orjson.dumps(call.kwargs).decode()]
        return str(await conn.fetchval(statement, call.task, *arguments, *options.values()))
    except (asyncpg.PostgresError, asyncpg.DataError) as exc:
        raise Refused(str(exc)) from None
    finally:
        await conn.close()


async def http(door: Door, call: Call) -> str:
    runner = TaskRunner(door.url)  # without the tasks' code: the registry tells
    try:
        async with client_for(dashboard(runner, api_token=TOKEN)) as client:
            headers = {"authorization": f"Bearer {TOKEN}"}
            answer = await client.post("/api/jobs", json=call.document(), headers=headers)
    finally:
        await runner.close()
    if answer.status_code not in (200, 201):
        raise Refused(f"{answer.status_code} {answer.json()['error']}")
    return str(answer.json()["id"])


CLI_FLAGS = {"limit_key": "--limit-key", "rate_key": "--rate-key", "key_ttl": "--key-ttl"}


async def cli(door: Door, call: Call) -> str:
    line = ["enqueue", call.task, orjson.dumps(call.args).decode(), "--url", door.url]
    line += ["--kwargs", orjson.dumps(call.kwargs).decode()]
    for name, value in call.options.items():
        line += [CLI_FLAGS.get(name, f"--{name}"), str(value)]
    done = await asyncio.to_thread(CliRunner().invoke, cli_app, line)
    if done.exit_code != 0:
        raise Refused(done.output)
    return done.stdout.split()[0]


SENDERS: dict[str, Callable[[Door, Call], Awaitable[str]]] = {
    "fcall": fcall,
    "sql": sql,
    "http": http,
    "cli": cli,
}


@pytest.fixture(params=DOORS, ids=[f"{kind}-{backend}" for kind, backend in DOORS])
async def door(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Door]:
    """A door on a namespace of the test's own (a SQLite file under tmp_path), its tasks
    published by a worker."""
    kind, backend = request.param
    name = f"doors_{secrets.token_hex(5)}"
    urls = {
        "redis": f"{REDIS}?prefix={name}",
        "postgres": f"{POSTGRES}?schema={name}",
        "sqlite": sqlite_url(tmp_path),
    }
    url = urls[backend]
    runner = published_app(url)
    try:
        # (on Redis a task is published to the queues its worker serves, "other" included)
        await runner.worker(burst=True, queues=["crm", "default", "other"]).run()
        yield Door(kind, url, name)
    finally:
        await runner.close()
        if backend == "redis":
            await delete_prefix(REDIS, name)
        elif backend == "postgres":
            await drop_schema(name)


async def stored_jobs(url: str) -> list[Any]:
    runner = TaskRunner(url)
    try:
        return list((await runner.list_jobs(limit=10)).jobs)
    finally:
        await runner.close()


async def test_a_call_stores_the_job_python_stores_and_a_dedup_hit_answers_it(door: Door) -> None:
    call = Call("doors.sync", [7], {"reason": "x"}, {"key": "sync-7", "priority": 3})
    job_id = await door.send(call)
    again = await door.send(dataclasses.replace(call, kwargs={"reason": "again"}))
    assert again == job_id
    (info,) = await stored_jobs(door.url)
    python = published_app("memory://").tasks["doors.sync"]
    new = python.options(key="sync-7", priority=3).prepare(7, reason="x").new
    stored = (info.queue, info.priority, info.max_attempts, info.key, info.limit_key)
    assert stored == (new.queue, new.priority, new.max_attempts, new.key, new.limit_key)
    assert (info.rate_key, info.args, info.kwargs) == (new.rate_key, [7], {"reason": "x"})


async def test_options_replace_the_task_s_settings(door: Door) -> None:
    call = Call("doors.sync", [8], {}, {"queue": "other", "retries": 0, "priority": 5})
    await door.send(call)
    (info,) = await stored_jobs(door.url)
    assert (info.queue, info.max_attempts, info.priority) == ("other", 1, 5)


async def test_timeout_and_expiry_travel_with_the_job_as_python_sends_them(door: Door) -> None:
    if door.kind == "sql":
        pytest.skip("the SQL function's signature has no timeout or expires (by design)")
    await door.send(Call("doors.note", ["hi"], {}, {"timeout": 30, "expires": 3600}))
    (info,) = await stored_jobs(door.url)
    async with TaskRunner(door.url) as reader:
        (record,) = await reader.backend.get([info.id])
    assert record is not None
    python = published_app("memory://").tasks["doors.note"]
    expected = python.options(timeout=30, expires=3600).prepare("hi").new.payload
    assert orjson.loads(record.payload)["meta"] == orjson.loads(expected)["meta"]


async def test_a_key_python_computes_must_be_given(door: Door) -> None:
    with pytest.raises(Refused, match="computed by Python code"):
        await door.send(Call("doors.computed", ["acme"]))
    if door.kind == "sql":
        # the SQL function's signature has no limit_key (docs/any-language.md)
        with pytest.raises(Refused, match="does not exist"):
            await door.send(Call("doors.computed", ["acme"], {}, {"limit_key": "a:acme"}))
        assert await stored_jobs(door.url) == []
        return
    await door.send(Call("doors.computed", ["acme"], {}, {"limit_key": "a:acme"}))
    (info,) = await stored_jobs(door.url)
    assert info.limit_key == "a:acme"


HOSTILE = "x'); DROP TABLE jobs; --"
# what each kind of bad input is, and how each door words its refusal
BAD_INPUT: dict[str, tuple[Call, dict[str, str]]] = {
    "unknown field": (
        Call("doors.sync", [7], {}, {"bogus": 1}),
        {
            "fcall": r"unknown field\(s\) 'bogus'",
            "http": r"unknown field\(s\) bogus",
            "sql": r"function .*enqueue\(.*\) does not exist",
            "cli": r"No such option: --bogus",
        },
    ),
    "wrong type": (
        Call("doors.sync", [7], {}, {"priority": "high"}),
        {
            "fcall": "priority must be an integer",
            "http": "priority must be an integer",
            "sql": r"invalid input for query argument \$4: 'high'",
            "cli": "Invalid value for '--priority'",
        },
    ),
    "arguments that do not fit": (
        Call("doors.sync", [], {"reason": "x"}),
        dict.fromkeys(SENDERS, "missing a required argument: 'customer_id'"),
    ),
    "unregistered task": (
        Call("doors.nope"),
        dict.fromkeys(SENDERS, "task named 'doors.nope'"),
    ),
    "oversized payload": (
        Call("doors.note", ["x" * MAX_PAYLOAD]),
        dict.fromkeys(SENDERS, f"over the limit of {MAX_PAYLOAD}"),
    ),
    "hostile task name": (
        Call(HOSTILE),
        {
            "fcall": "no task named",
            "http": "no task named",
            "sql": "task name .* is not allowed",
            "cli": "task name .* is not allowed",
        },
    ),
    "hostile queue name": (
        Call("doors.note", ["hi"], {}, {"queue": "../x"}),
        {
            **dict.fromkeys(SENDERS, r"queue name '\.\./x' is not allowed"),
            "fcall": r"the key '.*:\{\.\./x\}:prios' names no queue",
        },
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT)
async def test_bad_input_is_refused_clearly_and_writes_nothing(door: Door, case: str) -> None:
    call, said = BAD_INPUT[case]
    with pytest.raises(Refused) as refused:
        await door.send(call)
    assert re.search(said[door.kind], str(refused.value)), str(refused.value)
    assert await stored_jobs(door.url) == []
