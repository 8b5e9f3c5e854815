"""The worker under test: a separate OS process (as in production), or, for the memory
backend, a task in the measuring process. Both hand the probe's events to the bench."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

from kit.library import Library
from kit.probe import PROBE
from kit.protocol import Spec, emit, parse

STOP_GRACE = 30.0


class WorkerFailed(RuntimeError):
    """The worker exited or fell silent before reporting what the bench waits for."""


class Events:
    """Probe events by kind, in arrival order."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        """The worker's process (the measuring process itself for an in-process worker)."""
        self._queues: defaultdict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self.failure: str | None = None
        self.dead = asyncio.Event()
        self.stop: Callable[[], object] = lambda: None
        """Ask the worker to stop, without waiting (leaving `start_worker` waits)."""

    def die(self, why: str) -> None:
        self.failure = self.failure or why
        self.dead.set()

    def put(self, event: dict[str, Any]) -> None:
        self._queues[event["event"]].put_nowait(event)

    def sink(self, event: str, **payload: Any) -> None:
        self.put({"event": event, **payload})

    async def get(self, kind: str, within: float) -> dict[str, Any]:
        """The next `kind` event; raises WorkerFailed if the worker dies or times out first."""
        queue = self._queues[kind]
        if not queue.empty():
            return queue.get_nowait()
        getter = asyncio.ensure_future(queue.get())
        death = asyncio.ensure_future(self.dead.wait())
        await asyncio.wait({getter, death}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (getter, death):
            waiter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        raise WorkerFailed(self.failure or f"no {kind!r} from the worker within {within:.0f} s")

    def check(self) -> None:
        """Raise WorkerFailed if the worker has died."""
        if self.dead.is_set():
            raise WorkerFailed(self.failure or "the worker died")


@contextlib.asynccontextmanager
async def start_worker(lib: Library, spec: Spec, script: str, expect: int) -> AsyncIterator[Events]:
    """Start a worker that reports `done` after `expect` job bodies; stop it on exit."""
    if lib.in_process:
        async with _in_process(lib, spec, expect) as events:
            yield events
    else:
        async with _subprocess(spec, script, expect) as events:
            yield events


@contextlib.asynccontextmanager
async def _in_process(lib: Library, spec: Spec, expect: int) -> AsyncIterator[Events]:
    events = Events(os.getpid())
    PROBE.arm(expect, spec.checkpoints, events.sink)
    stop = asyncio.Event()
    events.stop = stop.set
    events.sink("ready", t=time.time())
    serving = asyncio.create_task(lib.serve(spec.concurrency, stop))
    serving.add_done_callback(lambda task: _note_exit(events, task))
    try:
        yield events
    finally:
        stop.set()
        await asyncio.wait_for(serving, STOP_GRACE)
        events.sink("stopped", **stopped_event())


def _note_exit(events: Events, task: asyncio.Task[None]) -> None:
    error = None if task.cancelled() else task.exception()
    events.die(f"worker crashed: {error!r}" if error else "worker stopped")


@contextlib.asynccontextmanager
async def _subprocess(spec: Spec, script: str, expect: int) -> AsyncIterator[Events]:
    worker_spec = dataclasses.replace(spec, expect=expect)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        "worker",
        worker_spec.to_json(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )
    events = Events(process.pid)
    assert process.stdin is not None
    events.stop = process.stdin.close
    reader = asyncio.create_task(_read_events(process, events))
    try:
        yield events
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            process.kill()
            await process.wait()
        await reader


async def _read_events(process: asyncio.subprocess.Process, events: Events) -> None:
    assert process.stdout is not None
    async for raw in process.stdout:
        line = raw.decode("utf-8", "replace")
        event = parse(line)
        if event is None:
            sys.stderr.write(line)
        else:
            events.put(event)
    code = await process.wait()
    events.die(f"worker process exited with code {code}")


async def serve_forever(lib: Library, spec: Spec) -> None:
    """The worker process's main: serve until the bench closes our stdin."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    threading.Thread(target=_wait_for_eof, args=(loop, stop), daemon=True).start()
    PROBE.arm(spec.expect, spec.checkpoints, emit)
    emit("ready", t=time.time())
    await lib.serve(spec.concurrency, stop)
    emit("stopped", **stopped_event())


def stopped_event() -> dict[str, Any]:
    """What a worker says once stopped: when, the stamped starts, how many bodies returned
    and when the last one did."""
    return {"t": time.time(), "starts": dict(PROBE.starts), "count": PROBE.count,
            "last": PROBE.last}  # fmt: skip


def _wait_for_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    sys.stdin.buffer.read()
    loop.call_soon_threadsafe(stop.set)


async def until_stopped(running: asyncio.Task[Any], stop: asyncio.Event) -> None:
    """Wait for `stop`; raise at once if the library's worker task ends first."""
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if running.done():
        running.result()
        raise WorkerFailed("the library's worker returned on its own")
