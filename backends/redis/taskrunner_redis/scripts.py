"""The Lua scripts, loaded from package files with the shared prelude prepended.

Scripts are called with EVALSHA directly (cheaper than redis-py's script wrapper) and loaded
again when Redis answers NOSCRIPT, as it does after a restart.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

SCRIPT_NAMES = (
    "enqueue", "claim", "heartbeat", "finish", "cancel", "retry", "reclaim", "purge", "stats",
    "next_due", "activity", "register_worker", "workers",
)  # fmt: skip


def _source(name: str) -> str:
    return (files("taskrunner_redis") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """Runs the scripts by name: `await scripts.run("claim", args)`."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        prelude = _source("common")
        self._sources = {name: f"{prelude}\n{_source(name)}" for name in SCRIPT_NAMES}
        self._shas = {
            name: hashlib.sha1(source.encode()).hexdigest()
            for name, source in self._sources.items()
        }

    async def run(self, name: str, args: list[Any]) -> Any:
        try:
            return await self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._shas[name], 0, *args
            )
        except NoScriptError:
            await self._client.script_load(self._sources[name])
            return await self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._shas[name], 0, *args
            )
