"""Bad input to `<schema>.enqueue(...)` (migrations/0011_task_registry.sql) gets a clear
error (SQLSTATE 22023 for what the function checks) and writes nothing: unknown tasks,
hostile or malformed names, wrong types, arguments that do not fit the task (judged as
Python judges them), keys only Python can make, and payloads over the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from taskrunner import InvalidArguments, TaskRunner
from taskrunner._serialization import encode_payload
from taskrunner.backend import TaskRegistry
from tests.postgres.sql_enqueue import psql_async, published, shop, sql_enqueue


@pytest.fixture
async def runner(pg_url: str) -> AsyncIterator[TaskRunner]:
    runner = shop(pg_url, max_payload=300)
    await published(runner)
    try:
        yield runner
    finally:
        await runner.close()


async def nothing_written(admin: asyncpg.Connection, schema: str) -> None:
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".jobs') == 0
    assert await admin.fetchval(f'SELECT COALESCE(sum(unfinished), 0) FROM "{schema}".tallies') == 0


Call = tuple[str | None, Any, Any, dict[str, Any]]
REFUSED: list[tuple[Call, str]] = [
    (("nope.task", [], {}, {}), r"no task named 'nope\.task' is registered"),
    ((None, [], {}, {}), "task name must be a non-empty string, got NULL"),
    (("x'); DROP TABLE jobs; --", [], {}, {}), r"task name .* is not allowed"),
    (("t" * 201, [], {}, {}), "is 201 characters; at most 200 are allowed"),
    (("shop.receipt", [1], {}, {"queue": "a b"}), "queue name 'a b' is not allowed"),
    (("shop.receipt", [1], {}, {"queue": "q" * 65}), "at most 64 are allowed"),
    (("shop.receipt", [1], {}, {"key": ""}), "dedup key must be a non-empty string"),
    (("shop.receipt", [1], {}, {"key": "a\x01b"}), "dedup key .* contains control characters"),
    (("shop.receipt", [1], {}, {"key": "k" * 257}), "at most 256 are allowed"),
    (("shop.receipt", [1], {}, {"priority": 40000}), "priority 40000 is out of range"),
    (("shop.receipt", [1], {}, {"max_attempts": 0}), "max_attempts must be at least 1"),
    (
        ("shop.receipt", [1], {}, {"run_at": datetime.now(UTC) + timedelta(days=4000)}),
        "at most ten years from now",
    ),
    (("shop.receipt", {"order": 1}, {}, {}), "args must be a JSON array and kwargs a JSON"),
    (("shop.receipt", [], [1], {}), "args must be a JSON array and kwargs a JSON"),
    (
        ("crm.sync", [7], {}, {}),
        r"missing a required argument: 'reason' \(it is defined as "
        r"sync\(customer_id, /, full=\.\.\., \*, reason\)\)",
    ),
    (("crm.sync", [1, 2, 3], {"reason": "x"}, {}), "too many positional arguments"),
    (("crm.sync", [], {"customer_id": 1, "reason": "x"}, {}), "positional only"),
    (("crm.sync", [1], {"reason": "x", "ful": 1}, {}), "unexpected keyword argument 'ful'"),
    (("crm.sync", [1, True], {"full": 1, "reason": "x"}, {}), "multiple values for argument"),
    (("crm.computed", ["acme"], {}, {}), "limit key is computed by Python code"),
    (("crm.fancy", ["acme"], {}, {}), r"template 'a:\{account!r\}' has fields other than"),
    (("crm.sync", [7.5], {"reason": "x"}, {}), "reads 'customer_id', here 7.5"),
    (("crm.sync", [[7]], {"reason": "x"}, {}), r"reads 'customer_id', here \[7\]"),
    (("crm.lazy", ["acme"], {}, {}), "reads 'region', which this call leaves to its default"),
    (("feeds.fetch", ["u"], {}, {}), "reads 'host', which this call leaves to its default"),
    (("crm.sync", ["x" * 300], {"reason": "x"}, {}), "limit key .* at most 256"),
    (("shop.receipt", [1, "x" * 300], {}, {}), "encode to 327 bytes, over the limit of 300"),
]


@pytest.mark.parametrize(("call", "message"), REFUSED)
async def test_bad_input_is_refused_and_nothing_written(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str, call: Call, message: str
) -> None:
    task, args, kwargs, options = call
    with pytest.raises(asyncpg.InvalidParameterValueError, match=message):
        await sql_enqueue(admin, schema, task, args, kwargs, **options)
    await nothing_written(admin, schema)


async def test_the_payload_limit_is_the_publishing_runners(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str
) -> None:
    fits = 300 - len(encode_payload([1, ""], {}))  # bytes of UTF-8, not characters
    note = "x" * (fits % 2) + "é" * (fits // 2)
    assert len(encode_payload([1, note], {})) == 300
    await sql_enqueue(admin, schema, "shop.receipt", [1, note])
    with pytest.raises(asyncpg.InvalidParameterValueError, match="encode to 301 bytes"):
        await sql_enqueue(admin, schema, "shop.receipt", [1, "x" * (fits + 1)])
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".jobs') == 1


async def test_psql_users_are_told_what_is_wrong(
    runner: TaskRunner, server: str, admin: asyncpg.Connection, schema: str
) -> None:
    refused = {
        f"SELECT {schema}.enqueue('feeds.fech', '[\"u\"]')": "no task named 'feeds.fech'",
        f"SELECT {schema}.enqueue('shop.receipt', 'not json')": "invalid input syntax for type",
        f"SELECT {schema}.enqueue('shop.receipt', '[1]', priority => 'high')": (
            "invalid input syntax for type integer"
        ),
        f"SELECT {schema}.enqueue('shop.receipt', '[1]', queue => 'x;y')": "queue name",
        f"SELECT {schema}.enqueue('shop.receipt', '[1e400]')": "too large for a float",
        f"SELECT {schema}.enqueue('shop.receipt', '[]')": "missing a required argument: 'order'",
    }
    for statement, message in refused.items():
        done = await psql_async(server, statement)
        assert done.returncode != 0, statement
        assert "ERROR:  " in done.stderr and message in done.stderr, done.stderr
    await nothing_written(admin, schema)


CALLS: list[tuple[str, list[Any], dict[str, Any]]] = [
    ("misc.mixed", [1, 2], {"d": 4}),
    ("misc.mixed", [1, 2, 3, 4, 5], {"d": 4, "e": 5, "x": 6, "a": 7}),
    ("misc.mixed", [1], {"b": 2, "d": 4}),
    ("misc.mixed", [1], {"d": 4}),
    ("misc.mixed", [], {"b": 2, "d": 4}),
    ("misc.mixed", [1, 2], {}),
    ("misc.mixed", [1, 2], {"b": 3, "d": 4}),
    ("shop.receipt", [], {}),
    ("shop.receipt", [1, "a", "b"], {}),
    ("shop.receipt", [1], {"note": "a", "order": 2}),
    ("shop.receipt", [], {"order": 1, "notes": "a"}),
    ("shop.receipt", [], {"note": "a", "order": 1}),
    ("math.total", [1, 2, 3], {}),
    ("math.total", [], {"numbers": [1]}),
    ("misc.echo", [1, [2]], {"any": {"thing": None}}),
]


@pytest.mark.parametrize(("task", "args", "kwargs"), CALLS)
async def test_arguments_are_judged_as_python_judges_them(
    runner: TaskRunner,
    admin: asyncpg.Connection,
    schema: str,
    task: str,
    args: list[Any],
    kwargs: dict[str, Any],
) -> None:
    try:
        runner.tasks[task].prepare(*args, **kwargs)
        python_says = None
    except InvalidArguments as exc:
        python_says = str(exc).split(" (it is defined as")[0]
    try:
        await sql_enqueue(admin, schema, task, args, kwargs)
        sql_says = None
    except asyncpg.InvalidParameterValueError as exc:
        sql_says = str(exc).split(" (it is defined as")[0]
    assert sql_says == python_says


async def test_a_spec_it_cannot_read_is_refused(
    runner: TaskRunner, admin: asyncpg.Connection, schema: str
) -> None:
    registry = runner.backend
    assert isinstance(registry, TaskRegistry)
    await registry.publish_tasks({"odd.bytes": b"\xff\xfe", "odd.json": b'{"format": 2}'})
    for task in ("odd.bytes", "odd.json"):
        with pytest.raises(asyncpg.InvalidParameterValueError, match="is not one this function"):
            await sql_enqueue(admin, schema, task)
    await nothing_written(admin, schema)
