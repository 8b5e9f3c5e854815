"""Names that end up in Redis keys, SQL rows and log lines are checked on the way in."""

from __future__ import annotations

import re

from taskrunner.errors import ConfigurationError, InvalidName

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]*")
TASK_NAME_MAX = 200
QUEUE_NAME_MAX = 64
KEY_MAX = 256
PRIORITY_MIN, PRIORITY_MAX = -32768, 32767


def _check_name(kind: str, name: object, longest: int) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidName(f"{kind} name must be a non-empty string, got {name!r}")
    if len(name) > longest:
        raise InvalidName(
            f"{kind} name {name[:40]!r}... is {len(name)} characters; at most {longest} are allowed"
        )
    if not _NAME.fullmatch(name):
        raise InvalidName(
            f"{kind} name {name!r} is not allowed: use letters, digits and _ . : - "
            "(starting with a letter, digit or _)"
        )
    return name


def task_name(name: object) -> str:
    return _check_name("task", name, TASK_NAME_MAX)


def queue_name(name: object) -> str:
    return _check_name("queue", name, QUEUE_NAME_MAX)


def dedup_key(key: object) -> str:
    return _check_key(key, "dedup")


def flow_key(key: object, kind: str) -> str:
    """A limit or rate key (`kind`: "limit" or "rate"), checked as a dedup key is."""
    return _check_key(key, kind)


def _check_key(key: object, kind: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidName(f"{kind} key must be a non-empty string, got {key!r}")
    if len(key) > KEY_MAX:
        raise InvalidName(
            f"{kind} key {key[:40]!r}... is {len(key)} characters; at most {KEY_MAX} are allowed"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidName(f"{kind} key {key!r} contains control characters")
    if not key.isascii():
        _check_encodable(f"{kind} key", key)
    return key


def _check_encodable(what: str, text: str) -> None:
    """Refuse text that UTF-8 cannot carry (a lone surrogate, e.g. from undecodable bytes)."""
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise InvalidName(
            f"{what} {text!r} is not valid Unicode text ({exc.reason} at position "
            f"{exc.start}): pass text that encodes as UTF-8"
        ) from None


def priority(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"priority must be an int, got {value!r}")
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise ConfigurationError(
            f"priority {value} is out of range {PRIORITY_MIN}..{PRIORITY_MAX} "
            "(lower runs first; 0 is the default)"
        )
    return value
