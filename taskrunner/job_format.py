"""The job document: how a job to enqueue is written as JSON by code that is not Python (the
dashboard's `POST /api/jobs`, and the other doors in docs/any-language.md), checked here
field by field and turned into the same prepared call `task.options(...).prepare(...)`
makes, so every rule of a Python enqueue holds (arguments fit the task, sizes, keys, ...).

Its JSON Schema ships beside this module (`schemas/job-v1.json`, `SCHEMA_PATH`); a document
may name its `format` (1), so a reader meets a future format knowingly, never misreads it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from taskrunner.errors import ConfigurationError
from taskrunner.task import PreparedJob, Task

FORMAT = 1
SCHEMA_PATH = Path(__file__).parent / "schemas" / "job-v1.json"

OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "queue": (str,),
    "priority": (int,),
    "delay": (int, float),
    "run_at": (int, float, str),
    "key": (str,),
    "key_ttl": (int, float),
    "retries": (int,),
    "timeout": (int, float),
    "expires": (int, float),
    "after": (list,),
    "run_anyway": (bool,),
    "limit_key": (str,),
    "rate_key": (str,),
}
FIELDS = frozenset({"format", "task", "args", "kwargs", *OPTION_TYPES})


def prepared_job(
    document: object, find_task: Callable[[str], Task[..., Any] | None]
) -> PreparedJob[Any]:
    """The prepared call a job document asks for (a `PreparedJob`), its task looked up by
    name with `find_task`; `ConfigurationError` (or `InvalidArguments`,
    `SerializationError`, `PayloadTooLarge`) saying what is wrong, before anything is
    written."""
    if not isinstance(document, dict):
        raise ConfigurationError("a job document is a JSON object with at least a task")
    unknown = sorted(set(document) - FIELDS)
    if unknown:
        raise ConfigurationError(
            f"unknown field(s) {', '.join(unknown)} in the job document; it takes "
            f"{', '.join(sorted(FIELDS))}"
        )
    version = document.get("format", FORMAT)
    if version != FORMAT or isinstance(version, bool):
        raise ConfigurationError(
            f"job document format {version!r}: this version of taskrunner reads format {FORMAT}"
        )
    name = document.get("task")
    if not isinstance(name, str):
        raise ConfigurationError("the job document's task must be a task's name (a string)")
    task = find_task(name)
    if task is None:
        raise ConfigurationError(f"no task named {name!r} is known here; check its name")
    args, kwargs = document.get("args", []), document.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ConfigurationError("args must be a JSON list and kwargs a JSON object")
    options = task_options({k: v for k, v in document.items() if k in OPTION_TYPES})
    return task.options(**options).prepare(*args, **kwargs)


def task_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """The document's options as `Task.options` takes them, each of its JSON type."""
    options: dict[str, Any] = {}
    for field, value in given.items():
        kinds = OPTION_TYPES[field]
        wrong_bool = isinstance(value, bool) and bool not in kinds
        if value is None:
            continue
        if wrong_bool or not isinstance(value, kinds):
            names = " or ".join(JSON_NAMES[kind] for kind in kinds)
            raise ConfigurationError(f"{field} must be {names}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigurationError(f"{field} must be a finite number, got {value!r}")
        options[field] = value
    if "run_at" in options:
        options["at"] = moment(options.pop("run_at"))
    if "after" in options and not all(isinstance(i, str) for i in options["after"]):
        raise ConfigurationError("after must be a list of job ids (strings)")
    return options


def moment(value: float | str) -> datetime:
    """A due time: epoch seconds, or an ISO 8601 text with its UTC offset."""
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigurationError(f"run_at {value!r} is no ISO 8601 date and time") from None
        if at.tzinfo is None:
            raise ConfigurationError(f"run_at {value!r} needs its UTC offset (e.g. Z, +02:00)")
        return at
    try:
        return datetime.fromtimestamp(value).astimezone()
    except (OverflowError, OSError, ValueError):
        raise ConfigurationError(f"run_at {value!r} is out of range") from None


JSON_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
              list: "a list"}  # fmt: skip
