"""The Lua scripts, loaded from package files with the shared prelude prepended."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

SCRIPT_NAMES = (
    "enqueue",
    "claim",
    "heartbeat",
    "finish",
    "cancel",
    "retry",
    "reclaim",
    "purge",
    "stats",
    "next_due",
)


def _source(name: str) -> str:
    return (files("taskrunner_redis") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Scripts:
    """One registered script per state change (redis-py reloads them after a Redis restart)."""

    enqueue: AsyncScript
    claim: AsyncScript
    heartbeat: AsyncScript
    finish: AsyncScript
    cancel: AsyncScript
    retry: AsyncScript
    reclaim: AsyncScript
    purge: AsyncScript
    stats: AsyncScript
    next_due: AsyncScript

    @classmethod
    def register(cls, client: Redis) -> Scripts:
        prelude = _source("common")
        return cls(
            **{
                name: client.register_script(prelude + "\n" + _source(name))
                for name in SCRIPT_NAMES
            }
        )

    def all(self) -> list[AsyncScript]:
        return [getattr(self, name) for name in SCRIPT_NAMES]
