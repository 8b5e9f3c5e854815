"""The workloads, written once against `Library`. Each returns a dict of figures."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from kit.library import Library, Unsupported
from kit.protocol import Spec
from kit.workers import Events, WorkerFailed, start_worker

Figures = dict[str, Any]
Workload = Callable[[Library, Spec, str], Awaitable[Figures]]

WARMUP_JOBS = 20
IDLE_BEFORE_LATENCY = 1.0
PREFILL_WINDOW = 200
POLL_SECONDS = 0.005
READY_TIMEOUT = 60.0
DELAYED_BY = 86_400.0
FEED_POLL_SECONDS = 0.25  # counting unfinished jobs can scan a table: keep it rare
CREW_POLL_SECONDS = 0.05  # while a crew drains, the count competes with it for the cores


def chunks(seqs: range, size: int) -> Iterator[range]:
    for start in range(seqs.start, seqs.stop, size):
        yield range(start, min(start + size, seqs.stop))


async def prefill(lib: Library, task: str, seqs: range, batch: int, delay: float = 0.0) -> None:
    """Store jobs as fast as the library allows (untimed): bulk API, else many in flight."""
    if not delay:
        try:
            for chunk in chunks(seqs, batch):
                await lib.enqueue_batch(task, chunk)
            return
        except Unsupported:
            pass
    for chunk in chunks(seqs, PREFILL_WINDOW):
        await asyncio.gather(*(lib.enqueue(task, seq, delay) for seq in chunk))


async def wait_drained(
    lib: Library, events: Events, within: float, *more: Events, poll: float = POLL_SECONDS
) -> float:
    """The time at which the library's own store first shows no queued or running job
    (raises WorkerFailed if a worker, `events` or one of `more`, dies first), read every
    `poll` seconds."""
    deadline = time.monotonic() + within
    while await lib.unfinished():
        for each in (events, *more):
            each.check()
        if time.monotonic() > deadline:
            raise WorkerFailed(f"the store still holds unfinished jobs after {within:.0f} s")
        await asyncio.sleep(poll)
    return time.time()


async def enqueue_single(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 1: one awaited enqueue at a time, like a web handler."""
    for seq in range(WARMUP_JOBS):
        await lib.enqueue("noop", seq)
    start = time.perf_counter()
    for seq in range(spec.n):
        await lib.enqueue("noop", seq)
    elapsed = time.perf_counter() - start
    return {"rate": spec.n / elapsed, "seconds": elapsed}


async def enqueue_concurrent(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 1b: `concurrency` coroutines of one process, each awaiting one enqueue at a
    time, like the request handlers of a busy web server."""
    for seq in range(WARMUP_JOBS):
        await lib.enqueue("noop", seq)
    seqs = iter(range(spec.n))  # shared: each coroutine takes the next number

    async def handler() -> None:
        for seq in seqs:
            await lib.enqueue("noop", seq)

    start = time.perf_counter()
    await asyncio.gather(*(handler() for _ in range(spec.concurrency)))
    elapsed = time.perf_counter() - start
    return {"rate": spec.n / elapsed, "seconds": elapsed}


async def enqueue_batch(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 2: the library's bulk API, `batch_size` jobs per call."""
    try:
        await lib.enqueue_batch("noop", range(WARMUP_JOBS))
    except Unsupported as why:
        return {"na": str(why)}
    start = time.perf_counter()
    for chunk in chunks(range(spec.n), spec.batch_size):
        await lib.enqueue_batch("noop", chunk)
    elapsed = time.perf_counter() - start
    return {"rate": spec.n / elapsed, "seconds": elapsed}


async def drain(lib: Library, spec: Spec, script: str) -> Figures:
    """Workloads 3 and 4: N jobs stored first, then one worker started; time from the
    worker's start until every body has returned and the store says all are finished."""
    await prefill(lib, spec.task, range(spec.n), spec.batch_size)
    return await drain_stored(lib, spec, script)


async def drain_stored(lib: Library, spec: Spec, script: str) -> Figures:
    """The timed part of a drain: the `n` jobs are stored; start a worker (`spec.workers`
    worker processes, see `drain_by_crew`) and time it."""
    if spec.workers > 1 and not lib.in_process:
        return await drain_by_crew(lib, spec, script)
    async with start_worker(lib, spec, script, expect=spec.n) as events:
        ready = await events.get("ready", READY_TIMEOUT)
        done = await events.get("done", spec.timeout)
        drained = await wait_drained(lib, events, spec.timeout)
    elapsed = drained - ready["t"]
    return {
        "rate": spec.n / elapsed,
        "seconds": elapsed,
        "bodies_seconds": done["t"] - ready["t"],
    }


async def drain_by_processes(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 3c, one phase: N jobs stored first, then `spec.workers` worker processes,
    one included, timed as `drain_by_crew` times them, so that the phases compare (on the
    memory backend, `spec.workers` workers in the measuring process)."""
    await prefill(lib, spec.task, range(spec.n), spec.batch_size)
    if lib.in_process:
        return await drain_stored(lib, spec, script)
    return await drain_by_crew(lib, spec, script)


async def drain_by_crew(lib: Library, spec: Spec, script: str) -> Figures:
    """A drain by `spec.workers` worker processes, started at once: timed from the first
    one's start until the store shows no unfinished job (read every `CREW_POLL_SECONDS`,
    which bounds the error) and every body has returned (each process says, once stopped,
    how many bodies it ran and when its last one returned); raises WorkerFailed unless
    they ran `n` bodies in all."""
    async with contextlib.AsyncExitStack() as stack:
        crew = [
            await stack.enter_async_context(start_worker(lib, spec, script, expect=0))
            for _ in range(spec.workers)
        ]
        readies = [await events.get("ready", READY_TIMEOUT) for events in crew]
        drained = await wait_drained(lib, crew[0], spec.timeout, *crew[1:], poll=CREW_POLL_SECONDS)
        for events in crew:
            events.stop()  # all at once; leaving the stack then waits for each
    stopped = [await events.get("stopped", READY_TIMEOUT) for events in crew]
    ran = sum(event["count"] for event in stopped)
    if ran != spec.n:
        raise WorkerFailed(f"the workers ran {ran} bodies for {spec.n} jobs")
    start = min(ready["t"] for ready in readies)
    end = max(drained, *(event["last"] for event in stopped))
    return {"rate": spec.n / (end - start), "seconds": end - start}


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


async def latency(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 5: into an idle worker, one job every `interval`; latency is from just
    before the enqueue call to the first line of the job body."""
    sent: dict[int, float] = {}
    async with start_worker(lib, spec, script, expect=spec.n) as events:
        await events.get("ready", READY_TIMEOUT)
        await asyncio.sleep(IDLE_BEFORE_LATENCY)
        for seq in range(spec.n):
            sent[seq] = time.time()
            await lib.enqueue("stamp", seq)
            await asyncio.sleep(spec.interval)
        done = await events.get("done", spec.timeout)
    starts = {int(seq): at for seq, at in done["starts"].items()}
    delays = sorted((starts[seq] - sent[seq]) * 1000 for seq in sent)
    return {
        "p50_ms": percentile(delays, 0.50),
        "p99_ms": percentile(delays, 0.99),
        "max_ms": delays[-1],
    }


async def memory(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 7: feed noop jobs in chunks (fewer than two chunks waiting) and read the
    worker's RSS when it has run each checkpoint's number of jobs."""
    total = max(spec.checkpoints)
    fed = 0
    async with start_worker(lib, spec, script, expect=total) as events:
        await events.get("ready", READY_TIMEOUT)
        while fed < total:
            events.check()
            if await lib.unfinished() >= spec.batch_size:
                await asyncio.sleep(FEED_POLL_SECONDS)
                continue
            chunk = range(fed, min(fed + spec.batch_size, total))
            await prefill(lib, "noop", chunk, spec.batch_size)
            fed = chunk.stop
        await events.get("done", spec.timeout)
        readings = [await events.get("rss", READY_TIMEOUT) for _ in spec.checkpoints]
    return {f"rss_mib_at_{r['n']}": r["rss_kib"] / 1024 for r in readings}


async def scale(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 6: the drain rate of the first N jobs. Phase `empty`: only those N exist.
    Phase `backlog`: `backlog` jobs queued plus `backlog` finished (Postgres) or delayed
    (other backends) jobs exist first. Timed until N bodies have returned."""
    if spec.phase == "backlog":
        await _make_backlog(lib, spec, script)
        queued = spec.backlog
    else:
        queued = spec.n
    await prefill(lib, "noop", range(queued), spec.batch_size)
    async with start_worker(lib, spec, script, expect=spec.n) as events:
        ready = await events.get("ready", READY_TIMEOUT)
        done = await events.get("done", spec.timeout)
    elapsed = done["t"] - ready["t"]
    return {"rate": spec.n / elapsed, "seconds": elapsed}


async def _make_backlog(lib: Library, spec: Spec, script: str) -> None:
    if spec.backend != "postgres":
        try:
            await prefill(lib, "noop", range(spec.backlog), spec.batch_size, delay=DELAYED_BY)
        except Unsupported as why:
            raise Unsupported(f"no delayed jobs: {why}") from None
        return
    await prefill(lib, "noop", range(spec.backlog), spec.batch_size)
    async with start_worker(lib, spec, script, expect=spec.backlog) as events:
        await events.get("done", spec.timeout)
        await wait_drained(lib, events, spec.timeout)


WORKLOADS: dict[str, Workload] = {
    "enqueue": enqueue_single,
    "concurrent": enqueue_concurrent,
    "batch": enqueue_batch,
    "drain": drain,
    "drain-3": drain,
    "processes": drain_by_processes,
    "sleep": drain,
    "latency": latency,
    "memory": memory,
    "scale": scale,
}
