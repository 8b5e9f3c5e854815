"""The Lua scripts, loaded from package files with the shared prelude (common.lua, then
flow.lua, batch.lua and deps.lua) prepended.

Scripts are called with EVALSHA directly (cheaper than redis-py's script wrapper) and loaded
again when Redis answers NOSCRIPT, as it does after a restart. Each call declares one key,
which names the slot (the queue) the script works in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

SCRIPT_NAMES = (
    "enqueue", "claim", "peek", "heartbeat", "finish", "cancel", "retry", "reclaim", "purge",
    "stats", "next_due", "activity", "watch", "register_worker", "workers", "resume",
    "batch_open", "batch_join", "batch_close", "batch_part", "batch_clean", "batch_index",
    "dep_register", "dep_read", "dep_judge", "dep_done",
)  # fmt: skip

# one script run: the script's name, the key it declares, its arguments
Call = tuple[str, str, list[Any]]


def _source(name: str) -> str:
    return (files("taskrunner_redis") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """Runs the scripts by name: `await scripts.run("claim", key, args)`."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        # flow control uses common; batches use both; dependencies use common and batch
        prelude = "\n".join(_source(name) for name in ("common", "flow", "batch", "deps"))
        self._sources = {name: f"{prelude}\n{_source(name)}" for name in SCRIPT_NAMES}
        self._shas = {
            name: hashlib.sha1(source.encode()).hexdigest()
            for name, source in self._sources.items()
        }

    async def run(self, name: str, key: str, args: list[Any]) -> Any:
        try:
            return await self._evalsha(name, key, args)
        except NoScriptError:
            await self._client.script_load(self._sources[name])
            return await self._evalsha(name, key, args)

    async def run_many(self, calls: Sequence[Call]) -> list[Any]:
        """Run the calls in one round trip (each still atomic on its own); answers in order."""
        if len(calls) == 1:
            return [await self.run(*calls[0])]
        async with self._client.pipeline(transaction=False) as pipe:
            for name, key, args in calls:
                pipe.execute_command("EVALSHA", self._shas[name], 1, key, *args)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
        for i, answer in enumerate(answers):
            if isinstance(answer, NoScriptError):
                answers[i] = await self.run(*calls[i])  # that call did not run: run it now
            elif isinstance(answer, Exception):
                raise answer
        return answers

    async def _evalsha(self, name: str, key: str, args: list[Any]) -> Any:
        return await self._client.execute_command(  # type: ignore[no-untyped-call]
            "EVALSHA", self._shas[name], 1, key, *args
        )
