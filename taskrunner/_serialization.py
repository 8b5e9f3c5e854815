"""Arguments and results travel as JSON (orjson). No pickle, ever."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from taskrunner.errors import PayloadTooLarge, SerializationError

DEFAULT_MAX_PAYLOAD = 1024 * 1024

# Types orjson would silently turn into strings or dicts: refuse them so a task never
# receives something other than what the caller passed.
_STRICT = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _dumps(value: object, what: str) -> bytes:
    try:
        # a tight copy (see `_json.compact`, inlined: this runs for every job)
        return bytes(memoryview(orjson.dumps(value, option=_STRICT)))
    except TypeError as exc:
        raise SerializationError(
            f"{what} cannot be sent as JSON ({exc}); pass str, int, float, bool, None, "
            "lists and dicts with str keys (for a datetime, its isoformat())"
        ) from exc


def encode_payload(
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    max_size: int = DEFAULT_MAX_PAYLOAD,
    meta: Mapping[str, Any] | None = None,
) -> bytes:
    """Encode a call's arguments, refusing what JSON cannot carry or what is too large.
    `meta` travels with them for taskrunner itself (e.g. the trace context)."""
    return encode_call(tuple(args), dict(kwargs), max_size, dict(meta) if meta else None)


def encode_call(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    max_size: int = DEFAULT_MAX_PAYLOAD,
    meta: dict[str, Any] | None = None,
) -> bytes:
    """`encode_payload` of a call's own `*args` tuple and `**kwargs` dict, encoded as they
    are (a tuple is a JSON array as a list is), without copies; `meta`, if any, is only
    read."""
    if meta:
        call: dict[str, Any] = {"args": args, "kwargs": kwargs, "meta": meta}
    else:
        call = {"args": args, "kwargs": kwargs}
    payload = _dumps(call, "the task's arguments")
    if b"null" in payload:  # orjson writes NaN and the infinities as null: look for them
        _refuse_non_finite(args, "args")
        _refuse_non_finite(kwargs, "kwargs")
    if len(payload) > max_size:
        raise PayloadTooLarge(
            f"the task's arguments encode to {len(payload)} bytes, over the limit of "
            f"{max_size}; pass a reference (a URL, a row id) instead of the data, "
            "or raise max_payload on the TaskRunner"
        )
    return payload


def _refuse_non_finite(value: object, path: str) -> None:
    """SerializationError naming where in the arguments a NaN or infinity is."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(
                f"the task's arguments cannot be sent as JSON: {path} is {value!r}, and JSON "
                "has no NaN or infinity; pass None, a string or a finite number"
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_non_finite(item, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_non_finite(item, f"{path}[{index}]")


def decode_payload(payload: bytes) -> tuple[list[Any], dict[str, Any]]:
    """A payload's args and kwargs; SerializationError if `encode_payload` did not make it."""
    args, kwargs, _ = decode_call(payload)
    return args, kwargs


def decode_call(payload: bytes) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """A payload's args, kwargs and meta (see `encode_payload`)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise SerializationError(f"the job's payload is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SerializationError("the job's payload is not a JSON object with args and kwargs")
    args, kwargs, meta = data.get("args", []), data.get("kwargs", {}), data.get("meta", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict) or not isinstance(meta, dict):
        raise SerializationError(
            "the job's payload has args that are not a list or kwargs that are not an object"
        )
    return args, kwargs, meta


def with_meta(payload: bytes, **items: str) -> bytes:
    """`payload` (from `encode_payload`) with `items` added to its meta."""
    call = orjson.loads(payload)
    call["meta"] = {**call.get("meta", {}), **items}
    return orjson.dumps(call)


def encode_result(value: object) -> bytes:
    return _dumps(value, "the task's return value")


def decode_result(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")
