"""The Redis backend for taskrunner.

Laid out like every backend (see docs/backends.md): `backend` (the protocol), `inspection`,
`settings` (the URL), `store` (the client, one script run per queue), `errors`, `records`,
`listen` (pub/sub and wake lists) and `scripts` (calls the Redis functions that `library`
builds from `lua/*.lua`); besides, `clients` (the redis-py client for one server, a cluster
or Sentinel), `keys` (the key layout), `locate` (a job's queue), `eviction` (the server's
eviction policy) and `registry` (the task registry).
"""

from taskrunner_redis.backend import RedisBackend

__all__ = ["RedisBackend"]
