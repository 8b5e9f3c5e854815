"""The fixtures the conformance runs need: those of the Redis and Postgres tests, which give
each test a namespace of its own on the shared server (a key prefix, a schema), and those
of the SQLite tests (a file under tmp_path)."""

from tests.postgres.conftest import pg_url, schema, server
from tests.redis.conftest import redis_available, redis_backend, redis_prefix, redis_url
from tests.sqlite.conftest import db_path, sqlite_url

__all__ = [
    "db_path",
    "pg_url",
    "redis_available",
    "redis_backend",
    "redis_prefix",
    "redis_url",
    "schema",
    "server",
    "sqlite_url",
]
