"""Deleting single finished jobs on Redis (see `JobDeletion`): one run of the `delete`
function per queue (lua/delete.lua), which deletes as purge does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from taskrunner.backend import JobDeletion
from taskrunner_redis.store import RedisStore


class RedisDeletion:
    """Deleting finished jobs by id, on the same `RedisStore` as the backend."""

    _store: RedisStore

    async def delete(self, ids: Sequence[str]) -> list[bool]:
        with self._store.errors("deleting jobs"):
            return await self._store.flag_per_job("delete", ids)


if TYPE_CHECKING:
    _deletes: type[JobDeletion] = RedisDeletion
