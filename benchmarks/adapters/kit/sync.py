"""The sync-app workload (issue 16): taskrunner's blocking enqueue against its own async one,
and against the peers' blocking enqueue (issue 21) where they have one.

Beyond `Library`, it needs a `SyncLibrary`, whose enqueuing side can also be a sync app's (a
`SyncSide`): `open_sync` readies a side that threads may call `enqueue_sync` on, each call
blocking until the job is stored, and `close_sync` releases it. All three are called from
threads, never from the measuring process's event loop (which a blocking call must not hold).

- `sync-enqueue`, phase `async`: workload 1, one coroutine awaiting one enqueue at a time
  (taskrunner only).
- `sync-enqueue`, phase `sync`: `concurrency` threads, each making one blocking enqueue at a
  time, `n` jobs in all, as the threads of a WSGI server do. A peer without a `SyncLibrary`
  side (its enqueue is a coroutine only: arq, SAQ, taskiq) answers n/a.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Protocol, cast

from kit.library import Library, require
from kit.protocol import Spec
from kit.workloads import WARMUP_JOBS, Figures, Workload, enqueue_single

JOIN_SECONDS = 600.0  # a thread that has not finished by then has hung: the run fails


class SyncSide(Protocol):
    """A sync app's enqueuing side."""

    def open_sync(self) -> None:
        """Ready the sync side: from now on any thread may call `enqueue_sync`."""

    def enqueue_sync(self, task: str, seq: int) -> None:
        """Enqueue one job from a thread, blocking until the library says it is stored."""

    def close_sync(self) -> None:
        """Release what the sync side holds (its connections, its threads)."""


class SyncLibrary(Library, SyncSide, Protocol):
    async def sync_unavailable(self) -> str | None:
        """Why the library cannot enqueue from a sync app's threads here, or None."""


async def sync_enqueue(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 13: enqueues one at a time per caller, from one coroutine (phase `async`) or
    from `concurrency` threads at once (phase `sync`)."""
    await require(
        lib, "sync_unavailable", "has no blocking enqueue for sync apps (only a coroutine)"
    )
    if spec.phase != "sync":
        return await enqueue_single(lib, spec, script)
    # the threads run while the loop waits here, free for a library that needs it
    return await asyncio.to_thread(threads_enqueue, cast(SyncLibrary, lib), spec)


def threads_enqueue(lib: SyncSide, spec: Spec) -> Figures:
    """`spec.concurrency` threads enqueue `spec.n` jobs in all, each one at a time; timed
    from the moment all are warmed up (each made a few calls) until the last has returned."""
    threads = spec.concurrency
    warmup = max(1, WARMUP_JOBS // threads)
    ready = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def caller(index: int) -> None:
        try:
            for _ in range(warmup):
                lib.enqueue_sync("noop", -1)
            ready.wait()
            for seq in range(index, spec.n, threads):  # n jobs in all, spread evenly
                lib.enqueue_sync("noop", seq)
        except BaseException as error:
            ready.abort()  # no thread is left waiting for this one
            errors.append(error)

    lib.open_sync()
    try:
        callers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
        for thread in callers:
            thread.start()
        with contextlib.suppress(threading.BrokenBarrierError):
            ready.wait()  # broken if a caller failed in its warm-up: reported below
        start = time.perf_counter()
        for thread in callers:
            thread.join(JOIN_SECONDS)
        elapsed = time.perf_counter() - start
    finally:
        lib.close_sync()
    if errors:
        raise errors[0]
    if any(thread.is_alive() for thread in callers):
        raise RuntimeError(f"a caller thread still runs after {JOIN_SECONDS:.0f} s")
    return {"rate": spec.n / elapsed, "seconds": elapsed, "threads": threads}


SYNC_WORKLOADS: dict[str, Workload] = {"sync-enqueue": sync_enqueue}
