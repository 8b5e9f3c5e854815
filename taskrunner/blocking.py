"""Blocking calls for sync code (Django views, Flask handlers, scripts, a `def` task's thread):
`task.enqueue_sync(...)`, `job.result_sync(...)`, `runner.get_job_sync(...)` and the rest
run the async method on an event loop of the runner's, from any thread but that loop's own.

Which loop: the one the runner is connected on, while it runs in another thread (a worker
running `def` tasks in threads, an async app whose sync endpoints run in a thread pool);
else a loop of the runner's own in a daemon thread, started by the first blocking call, on
which the runner connects, so one connection pool serves every thread. That thread is
stopped (and the runner closed) at interpreter exit; after a fork (gunicorn's preload), the
child forgets it and starts its own at its first blocking call, never touching the
parent's connections.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from taskrunner._coalesce import Coalescer, Enqueues
from taskrunner._handover import Handover
from taskrunner.backend import Backend, JobState, load_backend, scheme_of
from taskrunner.errors import ConfigurationError, TaskrunnerError
from taskrunner.handle import Job
from taskrunner.job import JobInfo
from taskrunner.telemetry import tracing

if TYPE_CHECKING:
    from taskrunner.task import PreparedJob

P = ParamSpec("P")
T = TypeVar("T")

CLOSE_TIMEOUT = 5.0  # seconds the exit waits for a runner's own loop to close its connections


class LoopThread:
    """An event loop running forever in a daemon thread of its own."""

    def __init__(self, name: str) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self._close_loop()

    def _close_loop(self) -> None:
        """Once stopped, end the loop's tasks and close it, as `asyncio.run` does: a task left
        pending (a backend's listener whose close timed out) would otherwise be destroyed by
        the garbage collector later, anywhere, with an error logged from inside other code."""
        loop = self.loop
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=CLOSE_TIMEOUT))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def stop(self, closing: Awaitable[None] | None, timeout: float) -> None:
        """Run `closing` on the loop (within `timeout`), then stop the loop and its thread."""
        if not self.loop.is_running():
            return
        if closing is not None:
            future = asyncio.run_coroutine_threadsafe(_awaited(closing), self.loop)
            try:
                future.result(timeout)
            except (FutureTimeout, Exception):  # exiting: a backend gone is no reason to hang
                future.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable


class Handoff(Generic[T]):
    """One blocking call: its coroutine runs as a task on the loop, and the calling thread
    waits on a plain lock that the task's end releases.

    `asyncio.run_coroutine_threadsafe` does the same at about twice the cost of the hand-off
    (some 30 µs a call against 17 on the benchmark machine; one thread's blocking enqueues
    on Redis ran at 1,900 jobs/s with it, 2,800 with this): its `concurrent.futures.Future`
    is chained to the task through more callbacks, and wakes the caller through a Condition
    whose lock the loop's thread still holds, so the caller wakes, then waits once more."""

    __slots__ = ("_done", "_error", "_task")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()  # released once, on the loop, when the call has ended
        self._task: asyncio.Task[T] | None = None
        self._error: BaseException | None = None

    def run(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on `loop` (from another thread) and answer its result."""
        try:
            # the callback runs in a copy of this thread's context, and so does the task
            # (context variables, such as a trace's current span, reach the call)
            loop.call_soon_threadsafe(self._start, coro)
        except RuntimeError:  # the loop is closed
            coro.close()
            raise
        try:
            self._done.acquire()
        except BaseException:  # interrupted (Ctrl-C): nobody waits for the call any more
            loop.call_soon_threadsafe(self._cancel)
            raise
        return self._outcome()

    def _start(self, coro: Coroutine[Any, Any, T]) -> None:
        try:
            self._task = asyncio.get_running_loop().create_task(coro)
        except BaseException as exc:  # the caller must wake up whatever happened
            coro.close()
            self._error = exc
            self._done.release()
            raise
        self._task.add_done_callback(self._end)

    def _end(self, task: asyncio.Task[T]) -> None:
        self._done.release()

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _outcome(self) -> T:
        task = self._task
        if task is None:
            raise TaskrunnerError("the blocking call could not start") from self._error
        if task.cancelled():  # its loop is shutting down; as run_coroutine_threadsafe says
            raise FutureCancelled()
        return task.result()


class BlockingMethods:
    """The blocking calls of `TaskRunner` (see the module's doc)."""

    url: str
    backend: Backend
    _owns_backend: bool  # built from `url` (not given): the runner can build it anew
    _loop: asyncio.AbstractEventLoop | None  # the loop the runner connected on
    _connected: bool
    _connect_lock: asyncio.Lock
    _own_loop: LoopThread | None = None
    _own_loop_lock = threading.Lock()
    _enqueues: Enqueues
    _enqueued_hook: object | None  # taskrunner.testing's eager mode sees each enqueue_many
    _handover: Handover | None = None

    async def close(self) -> None:
        raise NotImplementedError  # TaskRunner's

    async def connected(self) -> Backend:
        raise NotImplementedError  # TaskRunner's

    async def enqueue_many(
        self, prepared: Iterable[PreparedJob[T]], *, connection: Any = None
    ) -> list[Job[T]]:
        raise NotImplementedError  # TaskRunner's

    async def get_job(self, job_id: str) -> JobInfo:
        raise NotImplementedError  # TaskRunner's

    async def wait_for(self, job_id: str, timeout: float | None = None) -> JobInfo | None:
        raise NotImplementedError  # TaskRunner's

    async def cancel(self, job_id: str) -> JobState:
        raise NotImplementedError  # TaskRunner's

    async def retry(self, job_id: str) -> bool:
        raise NotImplementedError  # TaskRunner's

    def enqueue_many_sync(
        self, prepared: Iterable[PreparedJob[T]], *, connection: Any = None
    ) -> list[Job[T]]:
        """`enqueue_many`, from sync code. Plain jobs (not in a caller's transaction,
        without dependencies or a batch, outside a trace) are handed to the loop together
        with other threads' (see `Handover`); the others run `enqueue_many` there."""
        batch = list(prepared)
        if batch and self._plain(batch, connection):
            ids = self._handover_on(self._blocking_loop()).store([p.new for p in batch])
            return [Job(self, i, i != p.new.id) for p, i in zip(batch, ids, strict=True)]

        async def enqueue() -> list[Job[T]]:
            return await self.enqueue_many(batch, connection=connection)

        return self.call_sync(enqueue)

    def _plain(self, batch: list[PreparedJob[T]], connection: Any) -> bool:
        return (
            connection is None
            and self._enqueued_hook is None
            and not (tracing.ENABLED and tracing.in_trace())
            and all(not p.new.after and p.new.batch_id is None for p in batch)
        )

    def _handover_on(self, loop: asyncio.AbstractEventLoop) -> Handover:
        handover = self._handover
        if handover is None or handover.loop is not loop:
            # two threads may both make one: each call still gets its answer from its own
            handover = self._handover = Handover(loop, self._ready_coalescer, self._coalescer)
        return handover

    def _ready_coalescer(self) -> Coalescer | None:
        """The coalescer of plain enqueues, if the runner is connected on the running loop."""
        if self._connected and self._loop is asyncio.get_running_loop():
            return self._enqueues.coalescer(self.backend)
        return None

    async def _coalescer(self) -> Coalescer:
        return self._enqueues.coalescer(await self.connected())

    def get_job_sync(self, job_id: str) -> JobInfo:
        """`get_job`, from sync code."""
        return self.call_sync(self.get_job, job_id)

    def cancel_sync(self, job_id: str) -> JobState:
        """`cancel`, from sync code."""
        return self.call_sync(self.cancel, job_id)

    def retry_sync(self, job_id: str) -> bool:
        """`retry`, from sync code."""
        return self.call_sync(self.retry, job_id)

    def call_sync(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `await fn(*args, **kwargs)` on the runner's loop and answer its result, from
        sync code in any thread but that loop's own (there, await `fn` instead)."""
        loop = self._blocking_loop()
        return Handoff[T]().run(loop, _call(fn, *args, **kwargs))

    def _loop_closed(self) -> bool:
        """Whether the loop the runner connected on has been closed since (`asyncio.run`
        per request or per test): its connections died with it."""
        loop = self._loop
        return loop is not None and loop.is_closed()

    def _forgot_dead_loop(self) -> bool:
        """If the runner's loop is closed, forget its connection (closing nothing: it is
        gone) so that the next `connect` makes one on the running loop. Answers whether it
        did. A backend built from the URL is built anew; a memory backend keeps its jobs."""
        if not self._loop_closed():
            return False
        self._connected, self._loop = False, None
        self._connect_lock = asyncio.Lock()
        if self._owns_backend and scheme_of(self.url) != "memory":
            self.backend = load_backend(self.url)
        return True

    def close_sync(self) -> None:
        """Close the runner's own loop of blocking calls and its connections, if it has one
        (done at exit anyway; for a script that wants it done now)."""
        own, self._own_loop = self._own_loop, None
        if own is not None and own.pid == os.getpid():
            own.stop(self.close(), CLOSE_TIMEOUT)
            self._loop = None

    def _blocking_loop(self) -> asyncio.AbstractEventLoop:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise TaskrunnerError(
                "a blocking call (..._sync) from a thread that runs an event loop would stop "
                "that loop; await the async method instead (await task.enqueue(...))"
            )
        loop = self._loop
        if loop is not None and loop.is_running():
            return loop
        with self._own_loop_lock:
            own = self._own_loop
            if own is None or own.pid != os.getpid():
                own = self._start_own_loop()
            return own.loop

    def _start_own_loop(self) -> LoopThread:
        if scheme_of(self.url) == "memory":
            raise ConfigurationError(
                "the memory backend lives in one event loop, and no loop of this runner is "
                "running: blocking calls work there only from a def task's thread or an "
                "async app's threads; for a sync app use redis:// or postgresql://"
            )
        if self._connected:
            raise ConfigurationError(
                "this runner is connected on an event loop that is not running any more; "
                "close it (await runner.close()) in that loop before making blocking calls"
            )
        own = self._own_loop = LoopThread(f"taskrunner-{id(self):x}")
        _RUNNERS.add(self)
        return own


async def _call(fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    return await fn(*args, **kwargs)


_RUNNERS: weakref.WeakSet[BlockingMethods] = weakref.WeakSet()


def _close_all() -> None:
    for runner in list(_RUNNERS):
        runner.close_sync()


def _forget_in_child() -> None:
    """After a fork: the parent's loop threads do not exist here, and its connections are
    the parent's. Forget both (closing nothing: that would close the parent's sessions);
    the next blocking call starts afresh, with a backend built anew from the runner's URL
    (a backend given to the runner as an object is kept, and must reconnect by itself)."""
    for runner in list(_RUNNERS):
        if runner._own_loop is not None:
            runner._own_loop = None
            runner._loop = None
            runner._handover = None  # its lock may have been held by a parent's thread
            runner._connected = False
            runner._connect_lock = asyncio.Lock()
            if runner._owns_backend:
                runner.backend = load_backend(runner.url)
    BlockingMethods._own_loop_lock = threading.Lock()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_forget_in_child)
