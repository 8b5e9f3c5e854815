"""The Redis backend for taskrunner."""

from taskrunner_redis.backend import RedisBackend

__all__ = ["RedisBackend"]
