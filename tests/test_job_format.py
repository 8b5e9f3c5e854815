"""The job document (`taskrunner.job_format`): every field checked, the same rules as a
Python enqueue, and a JSON Schema that names exactly the fields the reader takes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from taskrunner import ConfigurationError, InvalidArguments, TaskRunner
from taskrunner.job_format import FIELDS, FORMAT, OPTION_TYPES, SCHEMA_PATH, prepared_job

runner = TaskRunner("memory://")


@runner.task(name="feeds.fetch", queue="feeds", retries=2)
async def fetch(url: str, *, fresh: bool = False) -> int:
    return len(url)


def prepare(document: object) -> Any:
    return prepared_job(document, runner.tasks.get)


def test_a_full_document_becomes_the_same_job_as_a_python_enqueue() -> None:
    later = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    new = prepare(
        {
            "format": 1, "task": "feeds.fetch", "args": ["https://a"], "kwargs": {"fresh": True},
            "queue": "urgent", "priority": -2, "run_at": "2030-01-01T09:00:00Z", "key": "a",
            "key_ttl": 60, "retries": 0, "timeout": 5, "expires": 30,
        }
    ).new  # fmt: skip
    assert (new.task, new.queue, new.priority, new.key, new.key_ttl) == (
        "feeds.fetch", "urgent", -2, "a", 60
    )  # fmt: skip
    assert new.at == later.timestamp() and new.max_attempts == 1
    call = orjson.loads(new.payload)
    assert call["args"] == ["https://a"] and call["kwargs"] == {"fresh": True}
    assert call["meta"] == {"timeout": 5, "expires_in": 30}
    plain = prepare({"task": "feeds.fetch", "args": ["https://b"]}).new
    assert (plain.queue, plain.max_attempts, plain.at, plain.delay) == ("feeds", 3, None, 0.0)
    assert prepare({"task": "feeds.fetch", "args": ["x"], "run_at": 1.9e9}).new.at == 1.9e9


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "a JSON object"),
        ({"args": []}, "task must be a task's name"),
        ({"task": "feeds.nope"}, "no task named 'feeds.nope'"),
        ({"task": "feeds.fetch", "args": ["x"], "queu": "a"}, "unknown field(s) queu"),
        ({"task": "feeds.fetch", "format": 2}, "format 2"),
        ({"task": "feeds.fetch", "args": {"url": "x"}}, "args must be a JSON list"),
        ({"task": "feeds.fetch", "args": ["x"], "priority": "1"}, "priority must be an integer"),
        ({"task": "feeds.fetch", "args": ["x"], "priority": True}, "priority must be an integer"),
        ({"task": "feeds.fetch", "args": ["x"], "delay": -1}, "delay"),
        ({"task": "feeds.fetch", "args": ["x"], "run_at": "tomorrow"}, "no ISO 8601"),
        ({"task": "feeds.fetch", "args": ["x"], "run_at": "2030-01-01T09:00"}, "UTC offset"),
        ({"task": "feeds.fetch", "args": ["x"], "run_at": 1e30}, "out of range"),
        ({"task": "feeds.fetch", "args": ["x"], "after": [1]}, "list of job ids"),
        ({"task": "feeds.fetch", "args": ["x"], "queue": "bad name!"}, "queue"),
        ({"task": "feeds.fetch", "args": ["x"], "delay": 5, "run_at": 1.9e9}, "not both"),
    ],
)
def test_bad_documents_are_refused_with_what_is_wrong(document: object, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        prepare(document)
    assert message in str(caught.value)


def test_arguments_must_fit_the_task() -> None:
    with pytest.raises(InvalidArguments, match="unexpected keyword argument 'link'"):
        prepare({"task": "feeds.fetch", "args": ["x"], "kwargs": {"link": "x"}})


def test_the_schema_names_exactly_the_fields_the_reader_takes() -> None:
    schema = orjson.loads(SCHEMA_PATH.read_bytes())
    assert set(schema["properties"]) == FIELDS
    assert schema["required"] == ["task"] and schema["additionalProperties"] is False
    assert schema["properties"]["format"]["const"] == FORMAT
    json_types = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array"}
    for field, kinds in OPTION_TYPES.items():
        spec = schema["properties"][field]
        declared = {s["type"] for s in spec.get("oneOf", [spec])}
        wanted = {json_types[k] for k in kinds} - ({"integer"} if float in kinds else set())
        assert declared == wanted, field


def test_the_documented_example_is_a_valid_document() -> None:
    page = (Path(__file__).parents[1] / "docs" / "any-language.md").read_text()
    block = page.split("```json\n", 1)[1].split("```", 1)[0]
    new = prepare(orjson.loads(block)).new
    assert (new.task, new.queue, new.key, new.delay) == ("feeds.fetch", "feeds", "feed:42", 30)
