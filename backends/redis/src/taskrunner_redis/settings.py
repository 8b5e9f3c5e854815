"""What a Redis URL says, beyond what redis-py reads from it.

Three shapes, one per deployment:

  redis://[[user]:password@]host:port/db        one server (rediss://: over TLS)
  redis+cluster://[[user]:password@]host:port[,host:port...][/0]
                                                Redis Cluster: any of its nodes, the client
                                                finds the rest (rediss+cluster://: TLS)
  redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]
                                                the primary Sentinel names for `service`; the
                                                hosts are sentinels (rediss+sentinel://: TLS)

All take `prefix=`, `allow_eviction=`, `wait_replicas=` and `wait_timeout=`; a single
server's URL passes its other options to redis-py, the others take the few listed in
`NODE_OPTIONS` and refuse the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from taskrunner.backend import check_url, parse_flag, redact
from taskrunner.errors import ConfigurationError

DEFAULT_PREFIX = "taskrunner"
DEFAULT_WAIT_TIMEOUT = 1.0  # seconds an enqueue waits for wait_replicas replicas at the most
_PREFIX = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_SCHEMES: dict[str, tuple[Topology, bool]] = {
    "redis": ("server", False),
    "rediss": ("server", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
}
SCHEMES = tuple(_SCHEMES)
DEFAULT_PORTS = {"cluster": 6379, "sentinel": 26379}
# the options a cluster or Sentinel URL takes, and how to read each
NODE_OPTIONS = {
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "max_connections": int,
    "ssl_cert_reqs": str,
    "ssl_ca_certs": str,
    "ssl_certfile": str,
    "ssl_keyfile": str,
}
_SERVICE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")

Topology = Literal["server", "cluster", "sentinel"]


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Where Redis is and how to reach it, the prefix every key of ours starts with, and
    whether to accept a server that may evict any key when full (see eviction.py).
    `wait_replicas`: how many replicas must have each enqueue's jobs before it returns
    (Redis WAIT, up to `wait_timeout` seconds; see backend.py).

    `url` is what redis-py connects with for one server. For a cluster or Sentinel, `nodes`
    are the hosts the URL lists (cluster nodes, or sentinels), `service` Sentinel's name
    for the primary, and `options` the connection options, read."""

    url: str
    prefix: str = DEFAULT_PREFIX
    allow_eviction: bool = False
    wait_replicas: int = 0
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    topology: Topology = "server"
    nodes: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: dict[str, float | int | str] = field(default_factory=dict)


def parse_url(url: str) -> RedisSettings:
    parts = urlsplit(check_url(url))
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            f"the Redis backend takes {', '.join(s + '://' for s in SCHEMES)} URLs, "
            f"not {parts.scheme}://"
        )
    topology, tls = _SCHEMES[scheme]
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours, rest = _our_options(query)
    if topology == "server":
        _check_port(parts, url)
        return RedisSettings(urlunsplit(parts._replace(query=urlencode(rest))), **ours)
    service, db = _path(topology, parts.path, url)
    return RedisSettings(
        redact(url),
        **ours,
        topology=topology,
        nodes=_nodes(parts, topology, url),
        service=service,
        db=db,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        options=_node_options(rest),
    )


def _our_options(query: list[tuple[str, str]]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Our own settings (prefix, allow_eviction, wait_replicas, wait_timeout) by name, and
    the options left for the client."""
    ours: dict[str, Any] = {}
    rest = []
    for name, value in query:
        if name == "prefix":
            if not _PREFIX.fullmatch(value):
                raise ConfigurationError(
                    f"key prefix {value!r} is not allowed: use 1 to 64 letters, digits, _ . -"
                )
            ours[name] = value
        elif name == "allow_eviction":
            flag = parse_flag(value)
            if flag is None:
                raise ConfigurationError(f"allow_eviction={value!r} must be true or false")
            ours[name] = flag
        elif name in ("wait_replicas", "wait_timeout"):
            ours[name] = _wait_option(name, value)
        else:
            rest.append((name, value))
    return ours, rest


def _wait_option(name: str, value: str) -> int | float:
    """wait_replicas (a whole number) or wait_timeout (seconds), both at least 0."""
    try:
        number = int(value) if name == "wait_replicas" else float(value)
    except ValueError:
        number = -1
    if not 0 <= number < float("inf"):
        kind = "a whole number" if name == "wait_replicas" else "a number of seconds"
        raise ConfigurationError(f"{name}={value!r} in the Redis URL must be {kind}, 0 or more")
    return number


def _nodes(parts: SplitResult, topology: Topology, url: str) -> tuple[tuple[str, int], ...]:
    """The host:port pairs of a cluster or Sentinel URL (a missing port: the default)."""
    hosts = parts.netloc.rpartition("@")[2]
    what = "cluster node" if topology == "cluster" else "sentinel"
    nodes = []
    for item in hosts.split(","):
        match = re.fullmatch(r"(\[[^\]]+\]|[^:\[\]]+)(?::(\d{1,5}))?", item.strip())
        port = DEFAULT_PORTS[topology] if match and match[2] is None else None
        if match and match[2] is not None and int(match[2]) <= 65535:
            port = int(match[2])
        if match is None or port is None:
            raise ConfigurationError(
                f"the Redis URL {redact(url)!r} lists {item.strip()!r} where a {what} "
                "belongs: write host:port, with a port from 0 to 65535, and separate "
                "hosts with commas"
            )
        nodes.append((match[1].strip("[]"), port))
    return tuple(nodes)


def _path(topology: Topology, path: str, url: str) -> tuple[str | None, int]:
    """Sentinel's service name and the db number from the URL's path."""
    steps = [step for step in path.split("/") if step]
    if topology == "cluster":
        if steps not in ([], ["0"]):
            raise ConfigurationError(
                f"the Redis Cluster URL {redact(url)!r} names a database: a cluster has "
                "only database 0"
            )
        return None, 0
    if not 1 <= len(steps) <= 2 or not _SERVICE.fullmatch(unquote(steps[0])):
        raise ConfigurationError(
            f"the Sentinel URL {redact(url)!r} must name the service after the hosts: "
            "redis+sentinel://host:26379,host:26380/mymaster[/db]"
        )
    if len(steps) == 2 and not steps[1].isdigit():
        raise ConfigurationError(
            f"the Sentinel URL {redact(url)!r} ends in {steps[1]!r}: the database is a number"
        )
    return unquote(steps[0]), int(steps[1]) if len(steps) == 2 else 0


def _node_options(rest: list[tuple[str, str]]) -> dict[str, float | int | str]:
    """The connection options of a cluster or Sentinel URL, read (see NODE_OPTIONS)."""
    options: dict[str, float | int | str] = {}
    for name, value in rest:
        kind = NODE_OPTIONS.get(name)
        if kind is None:
            raise ConfigurationError(
                f"unknown option {name!r} in a Redis Cluster or Sentinel URL; it takes "
                f"prefix, allow_eviction, wait_replicas, wait_timeout and {', '.join(NODE_OPTIONS)}"
            )
        try:
            options[name] = kind(value)
        except ValueError:
            raise ConfigurationError(
                f"{name}={value!r} in the Redis URL must be a {kind.__name__}"
            ) from None
    return options


def _check_port(parts: SplitResult, url: str) -> None:
    """Refuse what redis-py would meet with a bare ValueError that quotes the port's text."""
    try:
        _ = parts.port  # parsed on access
    except ValueError:
        raise ConfigurationError(
            f"the port in the Redis URL {redact(url)!r} is not a number from 0 to 65535"
        ) from None
