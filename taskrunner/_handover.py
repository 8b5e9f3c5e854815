"""Blocking enqueues from many threads, handed to the runner's loop together.

A sync app (a Django or Flask server with a thread per request) enqueues with
`task.enqueue_sync` from many threads at once. Run one by one, each call would cost a wake-up
of the loop, a task, and a backend call of its own. Instead, a thread's call puts its job in a
list shared by the runner's threads and wakes the loop only if no wake-up is pending yet; the
loop takes every job listed by then at once, and hands each call to the `Coalescer` as its own
call (so each still gets its own ids or its own error, and the jobs go in one shared backend
call). The calling thread waits on a plain lock that the coalescer releases as it answers.

Only plain enqueues go this way (the ones the coalescer shares); the others run their
`enqueue` on the loop as any blocking call does (`Handoff`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import CancelledError as FutureCancelled

from taskrunner._coalesce import Coalescer
from taskrunner.backend import NewJob

Connected = Callable[[], Coalescer | None]  # the backend's coalescer, if it is connected
Connect = Callable[[], Awaitable[Coalescer]]  # the coalescer of the backend, connected first


class _Call:
    """One thread's blocking enqueue, waiting for its answer: the coalescer answers it
    directly (`Answer`), which wakes the thread at once, with no future and no callback
    scheduled on the loop."""

    __slots__ = ("_done", "_ids", "error", "jobs")

    def __init__(self, jobs: Sequence[NewJob]) -> None:
        self.jobs = jobs
        self._done = threading.Lock()
        self._done.acquire()  # released once, on the loop, when the call has its answer
        self._ids: list[str] | None = None
        self.error: BaseException | None = None

    # -- the coalescer's side (Answer), on the loop ------------------------------------------

    def done(self) -> bool:
        return self._ids is not None or self.error is not None

    def set_result(self, ids: list[str], /) -> None:
        self._ids = ids
        self._done.release()

    def set_exception(self, error: BaseException, /) -> None:
        self.error = error
        self._done.release()

    def cancel(self) -> bool:
        """The caller stopped waiting (Ctrl-C), or the loop is closing: its jobs are left
        out if they did not go yet."""
        if self.done():
            return False
        self.set_exception(FutureCancelled())
        return True

    # -- the thread's side ---------------------------------------------------------------------

    def wait(self, loop: asyncio.AbstractEventLoop) -> list[str]:
        try:
            self._done.acquire()
        except BaseException:  # interrupted: nobody waits for the call any more
            loop.call_soon_threadsafe(self.cancel)
            raise
        if self.error is not None:
            raise self.error
        assert self._ids is not None
        return self._ids


class Handover:
    """The blocking plain enqueues of one runner's threads on one loop (see the module's
    doc). On `loop`, `connected` answers the coalescer of the runner's backend if it is
    connected there, and `connect` connects it first."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, connected: Connected, connect: Connect
    ) -> None:
        self.loop = loop
        self._connected = connected
        self._connect = connect
        self._lock = threading.Lock()
        self._listed: list[_Call] = []
        self._woken = False  # a wake-up of the loop is pending: it takes what is listed
        self._tasks: set[asyncio.Task[None]] = set()

    def store(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store `jobs` (from a thread that is not the loop's); their ids, once stored."""
        call = _Call(jobs)
        with self._lock:
            self._listed.append(call)
            woken, self._woken = self._woken, True
        if not woken:
            try:
                self.loop.call_soon_threadsafe(self._take)
            except RuntimeError:  # the loop is closed
                with self._lock:
                    self._listed.remove(call)
                    self._woken = False
                raise
        return call.wait(self.loop)

    def _take(self) -> None:
        with self._lock:
            calls, self._listed = self._listed, []
            self._woken = False
        coalescer = self._connected()
        if coalescer is not None:
            _submit(coalescer, calls)
            return
        task = self.loop.create_task(self._connect_first(calls), name="taskrunner-handover")
        self._tasks.add(task)  # kept: the loop keeps only weak references to its tasks
        task.add_done_callback(self._tasks.discard)

    async def _connect_first(self, calls: list[_Call]) -> None:
        try:
            coalescer = await self._connect()
        except BaseException as exc:  # each caller must wake up, whatever happened
            for call in calls:
                if not call.done():
                    call.set_exception(exc)
            raise
        _submit(coalescer, calls)


def _submit(coalescer: Coalescer, calls: list[_Call]) -> None:
    for call in calls:
        if not call.done():  # a caller interrupted before its call was taken is left out
            coalescer.submit(call.jobs, call)
