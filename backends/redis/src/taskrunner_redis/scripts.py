"""Running the backend's Redis functions by their short names (the Lua files': "claim").

They are called with FCALL and make one library (library.py), loaded again when Redis
answers that a function is missing, as it does after a restart (functions, like data, are
kept on disk only where the server persists). Each call declares its route key, which names
the slot (the queue) the function works in, so a cluster client sends it to the slot's
primary, and the slot's never-written key, so Redis holds the call back while the slot moves
to another primary (see moving.py; such calls are sent again until it has moved). On a
cluster the library is loaded on every primary, and on all of them again when one answers
that it lost it (a primary restarted empty, or one that joined since).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import cache
from typing import Any

from redis.asyncio import RedisCluster
from redis.exceptions import ClusterError, ResponseError

from taskrunner_redis.clients import Client
from taskrunner_redis.lane import SMALLEST_POOL, Lane
from taskrunner_redis.library import Library, internal_library, public_library
from taskrunner_redis.moving import MoveWait, declared, is_moving
from taskrunner_redis.replicas import Replicas, WaitPlan

# one function call: the function's short name, the key it declares, its arguments
Call = tuple[str, str, list[Any]]
# the functions a worker calls over and over: a lone call of one goes on a lane of its own
WORKER_LANES = ("claim", "finish")


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
        self._cluster = isinstance(client, RedisCluster)
        self.lane = Lane(client)  # for enqueues (lane.py)
        # a worker's claims and its outcome reports, each on a lane of its own (lane.py)
        self._worker_lanes = {name: Lane(client, 2 * SMALLEST_POOL) for name in WORKER_LANES}
        self._library = library()
        self._names = self._library.functions
        self._loads = 0  # how many times this client loaded the library
        self._loading = asyncio.Lock()

    async def close_lanes(self) -> None:
        """Give the lanes' connections back to the pool (before the pool closes)."""
        for lane in (self.lane, *self._worker_lanes.values()):
            await lane.close()

    def name_of(self, name: str) -> str:
        """The full name of the function called `name` here ("claim")."""
        return self._names[name]

    async def run(self, name: str, key: str, args: list[Any], *, lane: bool = False) -> Any:
        """The function's answer (`lane`: sent on the enqueue lane when it is free)."""
        moving: MoveWait | None = None  # made at the first refusal (most calls have none)
        loaded = False
        while True:
            loads = self._loads
            try:
                return await self._fcall(name, key, args, lane)
            except (ResponseError, ClusterError) as exc:
                if is_moving(exc):
                    moving = moving or MoveWait()
                    await moving.pause(exc)
                elif is_missing(exc) and not loaded:
                    await self.load(loads)
                    loaded = True
                else:
                    raise

    async def run_many(
        self, calls: Sequence[Call], replicas: Replicas | None = None, *, lane: bool = False
    ) -> list[Any]:
        """Run the calls in one round trip (each still atomic on its own); answers in order.
        With `replicas` (how many, and the most milliseconds to wait), a WAIT follows them on
        the same connection, so they return once that many replicas have their writes.
        Calls that did not run (the library missing, their slot moving) are sent again.
        `lane`: a lone call goes on the enqueue lane when it is free (lane.py)."""
        if len(calls) == 1 and replicas is None:
            return [await self.run(*calls[0], lane=lane)]
        answers: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        moving = MoveWait()
        loaded = False
        while todo:
            loads = self._loads
            got = await self._pipeline([calls[i] for i in todo], replicas)
            missing = [i for i, answer in zip(todo, got, strict=True) if is_missing(answer)]
            refused = [answer for answer in got if is_moving(answer)]
            for i, answer in zip(todo, got, strict=True):
                answers[i] = answer
                if isinstance(answer, Exception) and not (is_missing(answer) or is_moving(answer)):
                    raise answer
            if missing and loaded:
                raise answers[missing[0]]
            if missing:
                await self.load(loads)
                loaded = True
            if refused:
                await moving.pause(refused[0])
            todo = [i for i in todo if is_missing(answers[i]) or is_moving(answers[i])]
        return answers

    async def _pipeline(self, calls: Sequence[Call], replicas: Replicas | None) -> list[Any]:
        """The calls' answers (or errors), sent in one pipeline, then WAIT if asked."""
        routes = await self._routes([key for _, key, _ in calls])
        plan = WaitPlan(self._client, [key for _, key, _ in calls]) if replicas else None
        async with self._client.pipeline(transaction=False) as pipe:
            for (name, key, args), route in zip(calls, routes, strict=True):
                pipe.execute_command("FCALL", self._names[name], *declared(key), *args, **route)
            if replicas is not None and plan is not None:
                for target in plan.targets:
                    pipe.execute_command("WAIT", replicas.count, replicas.timeout_ms, **target)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
        if replicas is None or plan is None:
            return answers
        for confirmed in answers[len(calls) :]:
            replicas.check(confirmed)
        return plan.uncovered(answers[: len(calls)])

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

    async def _fcall(self, name: str, key: str, args: list[Any], lane: bool = False) -> Any:
        (route,) = await self._routes([key]) if self._cluster else ({},)
        own = self.lane if lane else self._worker_lanes.get(name)
        execute = self._client.execute_command if own is None else own.execute
        return await execute("FCALL", self._names[name], *declared(key), *args, **route)

    async def _routes(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """How each call routed by `keys` is sent: on a cluster, to the primary the client's
        map names for its key's slot, named here from the same map a WAIT's target is
        taken from (replicas.py); redirections are still followed. A lone call so sent is
        not tried again by redis-py after a lost connection: it fails, and our callers
        retry (a pipeline is still tried again)."""
        client = self._client
        if not isinstance(client, RedisCluster):
            return [{} for _ in keys]
        await client.initialize()  # the map, read again if a lost node made it stale
        return [{"target_nodes": client.get_node_from_key(key)} for key in keys]
