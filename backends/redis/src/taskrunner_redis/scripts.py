"""Running the backend's Redis functions by their short names (the Lua files': "claim").

They are called with FCALL and make one library (library.py), loaded again when Redis
answers that a function is missing, as it does after a restart (functions, like data, are
kept on disk only where the server persists). Each call declares one key, which names the
slot (the queue) the function works in, so a cluster client sends it to the slot's primary.
On a cluster the library is loaded on every primary, and on all of them again when one
answers that it lost it (a primary restarted empty, or one that joined since).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import cache
from typing import Any

from redis.asyncio import RedisCluster
from redis.exceptions import ResponseError

from taskrunner_redis.clients import Client
from taskrunner_redis.library import Library, internal_library, public_library

# one function call: the function's short name, the key it declares, its arguments
Call = tuple[str, str, list[Any]]


@cache
def library() -> Library:
    """The backend's library, built once per process."""
    return internal_library()


@cache
def public() -> Library:
    """The public library (taskrunner_enqueue), built once per process."""
    return public_library()


def is_missing(answer: object) -> bool:
    """Whether Redis answered that the function called is not loaded."""
    return isinstance(answer, ResponseError) and str(answer).startswith("Function not found")


class Scripts:
    """Runs the functions by name: `await scripts.run("claim", key, args)`."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._library = library()
        self._names = self._library.functions
        self._loads = 0  # how many times this client loaded the library
        self._loading = asyncio.Lock()

    async def run(self, name: str, key: str, args: list[Any]) -> Any:
        loads = self._loads
        try:
            return await self._fcall(name, key, args)
        except ResponseError as exc:
            if not is_missing(exc):
                raise
        await self.load(loads)
        return await self._fcall(name, key, args)

    async def run_many(self, calls: Sequence[Call]) -> list[Any]:
        """Run the calls in one round trip (each still atomic on its own); answers in order."""
        if len(calls) == 1:
            return [await self.run(*calls[0])]
        loads = self._loads
        async with self._client.pipeline(transaction=False) as pipe:
            for name, key, args in calls:
                pipe.execute_command("FCALL", self._names[name], 1, key, *args)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
        for i, answer in enumerate(answers):
            if is_missing(answer):
                await self.load(loads)
                answers[i] = await self.run(*calls[i])  # that call did not run: run it now
            elif isinstance(answer, Exception):
                raise answer
        return answers

    async def load(self, seen: int | None = None) -> None:
        """Load the library, unless this client loaded it since it had made `seen` loads
        (so the calls that found it missing at once load it once)."""
        async with self._loading:
            if seen is not None and self._loads != seen:
                return
            await self._function_load(self._library.code)
            self._loads += 1

    async def load_public(self) -> None:
        """Load the public library, replacing the one loaded (see library.py)."""
        await self._function_load(public().code)

    async def _function_load(self, code: str) -> None:
        """FUNCTION LOAD REPLACE the code: on the server, or on every primary of a cluster
        (a replica gets functions from its primary, as it gets data)."""
        if isinstance(self._client, RedisCluster):
            await self._client.execute_command(
                "FUNCTION", "LOAD", "REPLACE", code, target_nodes=self._client.get_primaries()
            )
        else:
            await self._client.execute_command("FUNCTION", "LOAD", "REPLACE", code)  # type: ignore[no-untyped-call]

    async def _fcall(self, name: str, key: str, args: list[Any]) -> Any:
        return await self._client.execute_command("FCALL", self._names[name], 1, key, *args)
