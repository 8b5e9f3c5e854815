"""The batch workloads (issue 15), measured for taskrunner only: none of the peers has free
batches with a callback.

Beyond `Library`, they need a `BatchLibrary`: one that stores jobs as the members of one
closed batch, with a job of the same task as its `on_success` callback if asked, and reads
back when the batch ended and when that callback started, on the backend's clock.

- `batch-callback`: `n` members of the `stamp` task (their body does nothing but record
  `time.time()`, so it records the moment the body ends as much as when it starts) and a
  `stamp` job of seq `CALLBACK_SEQ` as the callback; one worker runs them all, so the
  members' end and the callback's start are read on the worker process's wall clock.
- `batch-drain`: the noop drain of workload 3, of `n` plain jobs (phase `plain`) or of `n`
  members of one batch without callbacks (phase `batched`).
"""

from __future__ import annotations

from typing import Protocol, cast

from kit.library import Library, require
from kit.protocol import Spec
from kit.workers import WorkerFailed, start_worker
from kit.workloads import READY_TIMEOUT, Figures, Workload, drain, drain_stored

STAMP = "stamp"
CALLBACK_SEQ = -1  # the callback's seq; the members' are 0 .. n - 1


class BatchLibrary(Library, Protocol):
    async def batches_unavailable(self) -> str | None:
        """Why the backend cannot run these workloads (it keeps no batches), or None."""

    async def store_batch(self, task: str, seqs: range, callback: int | None = None) -> str:
        """Store a closed batch of jobs of `task`, one per seq, with a job of `task` and seq
        `callback` as its `on_success` (None: no callback); answers the batch's id."""

    async def batch_times(self, batch_id: str) -> tuple[float, float]:
        """On the backend's clock, in seconds since the epoch: when the batch's last member
        ended, and when its `on_success` job started."""


async def batched(lib: Library) -> BatchLibrary:
    """The library as a BatchLibrary; Unsupported (the figures read n/a) if it is none."""
    await require(lib, "batches_unavailable", "has no free batches with callbacks")
    return cast(BatchLibrary, lib)


async def batch_callback(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 11: a closed batch of `n` stamp jobs with a stamp job as its `on_success`,
    all stored before one worker starts; from the last member's end to the callback's
    start, on the worker's wall clock (`ms`) and on the backend's (`ms_backend`: the
    batch's `ended_at` to the callback's `started_at`)."""
    batches = await batched(lib)
    batch_id = await batches.store_batch(STAMP, range(spec.n), callback=CALLBACK_SEQ)
    async with start_worker(lib, spec, script, expect=spec.n + 1) as events:
        await events.get("ready", READY_TIMEOUT)
        done = await events.get("done", spec.timeout)
    ended, started = await batches.batch_times(batch_id)
    stamps = {int(seq): float(at) for seq, at in done["starts"].items()}
    return {**callback_figures(stamps, spec.n), "ms_backend": (started - ended) * 1000}


def callback_figures(stamps: dict[int, float], members: int) -> Figures:
    """From the stamps of `members` members (seqs 0 .. members - 1) and of the callback
    (`CALLBACK_SEQ`): the ms from the last member's stamp to the callback's. A callback
    that started before a member ended, or a member that never ran, fails the run."""
    missing = [seq for seq in (*range(members), CALLBACK_SEQ) if seq not in stamps]
    if missing:
        raise WorkerFailed(f"{len(missing)} of the batch's jobs never ran (e.g. seq {missing[0]})")
    last = max(stamps[seq] for seq in range(members))
    gap = stamps[CALLBACK_SEQ] - last
    if gap < 0:
        raise WorkerFailed(f"the callback started {-gap * 1000:.1f} ms before a member ended")
    return {"ms": gap * 1000}


async def batch_drain(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 12: the noop drain of `n` plain jobs (phase `plain`) or of `n` members of
    one closed batch without callbacks (phase `batched`), timed as workload 3."""
    batches = await batched(lib)
    if spec.phase != "batched":
        return await drain(lib, spec, script)
    await batches.store_batch(spec.task, range(spec.n))
    return await drain_stored(lib, spec, script)


BATCH_WORKLOADS: dict[str, Workload] = {
    "batch-callback": batch_callback,
    "batch-drain": batch_drain,
}
