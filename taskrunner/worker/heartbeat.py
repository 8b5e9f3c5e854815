"""A worker's heartbeat: it renews the leases of the attempts it runs (and of the outcomes it
has not reported yet), hands each attempt the answer (stop: cancel requested, or lease lost),
keeps the worker's entry in the backend's registry of workers, and puts back the jobs of
workers that stopped renewing theirs (reclaim)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence

import anyio

from taskrunner.backend import (
    Backend,
    Beat,
    CancelSignals,
    Inspection,
    LeaseStatus,
    Outcome,
    WorkerRecord,
)
from taskrunner.policy import backend_retry_delay
from taskrunner.worker.execution import Execution

log = logging.getLogger("taskrunner.worker")


async def renew_leases(
    backend: Backend,
    running: Mapping[tuple[str, int], Execution],
    unreported: Sequence[Outcome],
    lease: float,
    worker_id: str,
) -> None:
    """One beat for every attempt `running` and every outcome not yet reported; attempts the
    backend answers CANCEL or LOST for are cancelled."""
    executions = list(running.values())
    if not executions and not unreported:
        return
    beats = [e.beat() for e in executions]
    beats += [Beat(o.job_id, o.attempt, queue=o.queue) for o in unreported]
    try:
        statuses = await backend.heartbeat(beats, lease)
    except Exception as exc:
        log.warning("worker %s: heartbeat failed (%s: %s)", worker_id, type(exc).__name__, exc)
        return
    for execution, status in zip(executions, statuses, strict=False):
        if status is LeaseStatus.CANCEL:
            execution.cancel("requested")
        elif status is LeaseStatus.LOST and running.get(execution.key) is execution:
            execution.cancel("lost")


async def listen_for_cancels(
    backend: Backend, running_ids: Callable[[], set[str]], beat_now: asyncio.Event, worker_id: str
) -> None:
    """Beat at once when the backend signals a cancel request for a job running here:
    the heartbeat's answer then stops the job. Without signals (a backend that has none,
    or one that fails or misses a request), the regular heartbeat still does."""
    if not isinstance(backend, CancelSignals):
        return
    failures = 0
    while True:
        try:
            async with backend.cancel_requests() as requests:
                failures = 0
                async for ids in requests:
                    if not running_ids().isdisjoint(ids):
                        beat_now.set()
            return
        except Exception as exc:
            failures += 1
            delay = backend_retry_delay(failures)
            log.warning(
                "worker %s: listening for cancel requests failed (%s: %s); retrying in "
                "%.1fs (meanwhile heartbeats pick them up)",
                worker_id,
                type(exc).__name__,
                exc,
                delay,
            )
            await anyio.sleep(delay)


def this_process(
    worker_id: str, queues: tuple[str, ...], concurrency: int, running: int, started_at: float
) -> WorkerRecord:
    """The record of a worker of this process, on this host."""
    return WorkerRecord(
        id=worker_id,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        queues=queues,
        concurrency=concurrency,
        running=running,
        started_at=started_at,
    )


async def announce(backend: Backend, record: WorkerRecord, ttl: float) -> None:
    """Tell the backend this worker is alive (where it keeps a registry of workers)."""
    if not isinstance(backend, Inspection):
        return
    try:
        await backend.register_worker(record, ttl)
    except Exception as exc:
        log.debug("worker %s: could not announce itself (%s)", record.id, exc)


async def retire(backend: Backend, worker_id: str) -> None:
    """Take the worker out of the backend's registry of workers."""
    if isinstance(backend, Inspection):
        with contextlib.suppress(Exception):
            await backend.unregister_worker(worker_id)


async def reclaim(
    backend: Backend, worker_id: str, on_rescue: Callable[[int], object] | None
) -> int:
    """Put back jobs whose worker stopped renewing their lease; answers how many."""
    try:
        ids = await backend.reclaim()
    except Exception as exc:
        log.warning("worker %s: reclaim failed (%s: %s)", worker_id, type(exc).__name__, exc)
        return 0
    if ids:
        if on_rescue is not None:
            on_rescue(len(ids))
        log.warning(
            "worker %s: put back %d jobs whose worker stopped heartbeating: %s",
            worker_id,
            len(ids),
            ", ".join(ids[:10]),
        )
    return len(ids)
