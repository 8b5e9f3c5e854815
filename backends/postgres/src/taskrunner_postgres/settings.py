"""Settings of the Postgres backend, read from the URL's query string.

`postgresql://user:secret@db:5432/app?schema=jobs&sslmode=verify-full&sslrootcert=ca.pem`

taskrunner's own parameters (`schema`, `migrate`, `pool_min`, `pool_max`) are taken out of
the query string; every other parameter (`sslmode`, `sslrootcert`, `application_name`, ...)
is passed to asyncpg untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from taskrunner.backend import check_url, parse_flag, redact
from taskrunner.errors import ConfigurationError

DEFAULT_SCHEMA = "taskrunner"
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,49}")
OWN_PARAMETERS = ("schema", "migrate", "pool_min", "pool_max")


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """How the backend uses its database.

    `schema`: the Postgres schema holding taskrunner's tables (lowercase letters, digits and
    _, at most 50 characters). `migrate`: apply pending migrations in `connect()` (turn it
    off when a release step runs `taskrunner migrate`). `pool_min`/`pool_max`: the size of
    the connection pool. `poll`: how often waits re-check the table while the LISTEN
    connection is down. `prune_batch`: finished rows deleted per statement by `reclaim()`,
    and `prune_rounds` such statements at most per call. `reclaim_batch`: expired leases put
    back per call. `connect_timeout`: seconds to open a connection.
    """

    schema: str = DEFAULT_SCHEMA
    migrate: bool = True
    pool_min: int = 1
    pool_max: int = 10
    poll: float = 1.0
    prune_batch: int = 1000
    prune_rounds: int = 20
    reclaim_batch: int = 1000
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if (
            not isinstance(self.schema, str)
            or not SCHEMA_NAME.fullmatch(self.schema)
            or self.schema.startswith("pg_")
        ):
            raise ConfigurationError(
                f"schema {self.schema!r} is not allowed: use lowercase letters, digits and _ "
                "(starting with a letter or _), at most 50 characters, not starting with pg_ "
                "(Postgres reserves those)"
            )
        if not 0 <= self.pool_min <= self.pool_max or self.pool_max < 1:
            raise ConfigurationError(
                f"pool sizes must satisfy 0 <= pool_min <= pool_max and pool_max >= 1, got "
                f"pool_min={self.pool_min}, pool_max={self.pool_max}"
            )
        for name in ("poll", "connect_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        for name in ("prune_batch", "prune_rounds", "reclaim_batch"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be at least 1")

    @property
    def queued_channel(self) -> str:
        """The NOTIFY channel that carries names of queues where a job may be due."""
        return f"{self.schema}.queued"

    @property
    def finished_channel(self) -> str:
        """The NOTIFY channel that carries ids of jobs that just finished."""
        return f"{self.schema}.finished"

    @property
    def cancel_channel(self) -> str:
        """The NOTIFY channel that carries ids of running jobs someone asked to stop."""
        return f"{self.schema}.cancel"


def _flag(name: str, value: str, url: str) -> bool:
    flag = parse_flag(value)
    if flag is not None:
        return flag
    raise ConfigurationError(f"{name}={value!r} in {redact(url)} must be true or false")


def _count(name: str, value: str, url: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} in {redact(url)} must be a number") from None


def parse_url(url: str, base: PostgresSettings | None = None) -> tuple[str, PostgresSettings]:
    """Split a backend URL into the DSN for asyncpg and the backend's settings.

    Parameters in the URL override those of `base`.
    """
    try:
        parts = urlsplit(check_url(url))
    except ValueError:
        raise ConfigurationError(f"cannot parse the Postgres URL {redact(url)!r}") from None
    if parts.scheme.lower() not in ("postgres", "postgresql"):
        raise ConfigurationError(
            f"the Postgres backend takes postgresql:// URLs, got {redact(url)!r}"
        )
    settings = base or PostgresSettings()
    schema, migrate = settings.schema, settings.migrate
    pool_min, pool_max = settings.pool_min, settings.pool_max
    passed: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "schema":
            schema = value
        elif name == "migrate":
            migrate = _flag(name, value, url)
        elif name == "pool_min":
            pool_min = _count(name, value, url)
        elif name == "pool_max":
            pool_max = _count(name, value, url)
        else:
            passed.append((name, value))
    dsn = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(passed)))
    own = replace(settings, schema=schema, migrate=migrate, pool_min=pool_min, pool_max=pool_max)
    return dsn, own
