"""What a redis:// or rediss:// URL says, beyond what redis-py reads from it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from taskrunner.backend import check_url, parse_flag, redact
from taskrunner.errors import ConfigurationError

DEFAULT_PREFIX = "taskrunner"
_PREFIX = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """The URL redis-py connects with, the prefix every key of ours starts with, and
    whether to accept a server that may evict any key when full (see eviction.py)."""

    url: str
    prefix: str = DEFAULT_PREFIX
    allow_eviction: bool = False


def parse_url(url: str) -> RedisSettings:
    parts = urlsplit(check_url(url))
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigurationError(
            f"the Redis backend takes redis:// or rediss:// URLs, not {parts.scheme}://"
        )
    _check_port(parts, url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = DEFAULT_PREFIX
    allow_eviction = False
    rest = []
    for name, value in query:
        if name == "prefix":
            prefix = value
        elif name == "allow_eviction":
            flag = parse_flag(value)
            if flag is None:
                raise ConfigurationError(f"allow_eviction={value!r} must be true or false")
            allow_eviction = flag
        else:
            rest.append((name, value))
    if not _PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            f"key prefix {prefix!r} is not allowed: use 1 to 64 letters, digits, _ . -"
        )
    url = urlunsplit(parts._replace(query=urlencode(rest)))
    return RedisSettings(url, prefix, allow_eviction)


def _check_port(parts: SplitResult, url: str) -> None:
    """Refuse what redis-py would meet with a bare ValueError that quotes the port's text."""
    try:
        _ = parts.port  # parsed on access
    except ValueError:
        raise ConfigurationError(
            f"the port in the Redis URL {redact(url)!r} is not a number from 0 to 65535"
        ) from None
