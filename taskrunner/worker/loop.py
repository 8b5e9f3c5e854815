"""The worker: claims due jobs, runs them within a concurrency limit, reports outcomes.

Loops of one worker: claim (fills free slots, waits on the backend when idle), heartbeat
(renews leases, picks up cancel requests), cancel signals (beats at once when a backend says
a running job was asked to stop), flush (sends outcomes in batches), reclaim (puts back jobs
of dead workers) and the scheduler (enqueues recurring ticks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from types import TracebackType

import anyio

from taskrunner import registry
from taskrunner.backend import ATTEMPT_OUTCOMES, AttemptOutcome, Beat, JobRecord, Outcome, faults
from taskrunner.policy import Policy, backend_retry_delay
from taskrunner.worker import heartbeat
from taskrunner.worker.execution import Execution
from taskrunner.worker.followups import HookCalls
from taskrunner.worker.host import WorkerHost
from taskrunner.worker.outbox import UNREPORTED_AHEAD, Outbox
from taskrunner.worker.scheduler import run_scheduler
from taskrunner.worker.services import Services
from taskrunner.worker.settings import WorkerCounters, WorkerSettings, new_worker_id
from taskrunner.worker.shutdown import let_running_end
from taskrunner.worker.slots import QueueSlots, claim_round
from taskrunner.worker.waits import call_off, idle_wait, until

log = logging.getLogger("taskrunner.worker")


class Worker:
    """Runs a runner's jobs. Embed it with `async with runner.worker(...)`, or `await
    worker.run()` until `worker.stop()` (as `taskrunner run` does on SIGTERM)."""

    def __init__(self, runner: WorkerHost, settings: WorkerSettings) -> None:
        self.runner = runner
        self.settings = settings
        self.id = new_worker_id()
        self.counters = WorkerCounters()
        self.queues: tuple[str, ...] = tuple(settings.queues or ()) or tuple(
            sorted({runner.default_queue} | {t.settings.queue for t in runner.tasks.values()})
        )
        self._slots = QueueSlots(self.queues, settings.queue_limits)
        self._running: dict[tuple[str, int], Execution] = {}  # by (job id, attempt)
        self._outbox = Outbox()
        self._hook_calls = HookCalls(runner.hooks, runner.tasks, self.id)
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()
        self._hard_stop = asyncio.Event()
        self._started = asyncio.Event()
        self._beat_now = asyncio.Event()
        self._beating = asyncio.Lock()  # one heartbeat at a time (see _store_progress)
        self.thread_limiter = anyio.CapacityLimiter(settings.concurrency)
        self._main: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started_at = 0.0  # on the backend's clock, once running
        # observers, e.g. taskrunner.metrics: each attempt's end, and jobs rescued by reclaim
        self.on_attempt_end: Callable[[JobRecord, AttemptOutcome, float], None] | None = None
        self.on_rescue: Callable[[int], object] | None = None
        self._services = Services(
            tasks=runner.tasks,
            state=runner.state,
            policy=Policy(runner.backoff, runner.result_ttl, runner.failed_ttl),
            counters=self.counters,
            limiter=self.thread_limiter,
            worker_id=self.id,
            notify_progress=self.progress_reported,
            store_progress=self._store_progress,
            fetch=runner.backend.get,
        )

    def __repr__(self) -> str:
        return f"<Worker {self.id} queues={self._slots.describe()}>"

    @property
    def running(self) -> int:
        """How many jobs this worker runs right now."""
        return len(self._running)

    def running_jobs(self) -> list[JobRecord]:
        """The records of the attempts this worker runs right now (from any thread)."""
        return [execution.record for execution in list(self._running.values())]

    # -- control -----------------------------------------------------------------------------

    def stop(self, *, immediate: bool = False) -> None:
        """Stop claiming at once; running jobs get `grace` seconds to finish (none if
        `immediate`), then are cancelled and put back in their queue."""
        self._stopping.set()
        if immediate:
            self._hard_stop.set()
        call_off(self.runner.backend, self.id)  # an idle wait that may claim ends now

    async def __aenter__(self) -> Worker:
        self._main = asyncio.create_task(self.run(), name=f"taskrunner-worker-{self.id}")
        started = asyncio.create_task(self._started.wait())
        await asyncio.wait({self._main, started}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if self._main.done():
            self._main.result()  # raises what stopped the worker from starting
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._main is not None:
            await self._main

    # -- main ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped (or, in burst mode, until nothing is due)."""
        runner, settings = self.runner, self.settings
        self._loop = asyncio.get_running_loop()
        await runner.connect()
        self.started_at = await runner.backend.now()
        await registry.publish(runner.backend, runner.tasks.values())
        await runner.start_resources()
        log.info(
            "worker %s started on %s, queues %s, concurrency %d",
            self.id,
            runner,
            self._slots.describe(),
            settings.concurrency,
        )
        try:
            async with anyio.create_task_group() as loops:
                loops.start_soon(self._heartbeat_loop)
                loops.start_soon(self._cancel_signal_loop)
                loops.start_soon(self._flush_loop)
                loops.start_soon(self._reclaim_loop)
                scheduled = [t for t in runner.tasks.values() if t.settings.schedule is not None]
                if settings.scheduler and scheduled and not settings.burst:
                    loops.start_soon(run_scheduler, runner, scheduled, self._stopping)
                self._started.set()
                await self._claim_loop()
                grace = 0.0 if self._hard_stop.is_set() else settings.grace
                await let_running_end(self._running, grace, self._hard_stop, self.id)
                # a report in flight is let end: cancelled, the backend may have applied
                # it all the same, and the final flush would send it again, to be refused
                await until(self._outbox.idle.wait(), self._hard_stop)
                loops.cancel_scope.cancel()
            await self._flush_all()
            await self._hook_calls.wait(0.0 if self._hard_stop.is_set() else settings.grace)
            await self._retire()
        finally:
            await runner.stop_resources()
        done = self.counters
        counts = (done.succeeded, done.failed, done.retried, done.snoozed, done.released)
        log.info(
            "worker %s stopped: %d succeeded, %d failed, %d retried, %d snoozed, %d put back",
            self.id,
            *counts,
        )

    async def _claim_loop(self) -> None:
        backend, settings, slots = self.runner.backend, self.settings, self._slots
        failures = 0
        empty_claims = 0  # settled claims in a row that found nothing (burst mode leaves at 2)
        while not self._stopping.is_set():
            # outcomes the backend is slower to take than jobs end count against the free
            # slots beyond an allowance: claims wait for the reports, so the outbox (and
            # each finish call) stays bounded however slow the backend
            backlog = max(len(self._outbox) - max(settings.concurrency, UNREPORTED_AHEAD), 0)
            free = settings.concurrency - len(self._running) - backlog
            if free <= 0 or not slots.open_queues():
                self._slot_free.clear()
                await until(self._slot_free.wait(), self._stopping)
                continue
            # whether anything could still make a job due, as the claim reads the backend
            settled = not self._running and not self._outbox.unreported
            self._slot_free.clear()  # a slot freed from now on is worth another claim
            try:
                records = await claim_round(backend, slots, free, self.id, settings.lease)
                if failures:
                    log.warning("worker %s: the backend answers again; taking jobs", self.id)
                failures = 0
            except Exception as exc:
                failures += 1
                await self._backend_trouble("claim", exc, failures)
                continue
            if records:
                empty_claims = 0
                self._start_claimed(records)
                await asyncio.sleep(0)  # the jobs just started run (or end) before the next claim
                continue
            if settings.burst:
                if not self._running and not self._outbox.unreported:
                    if not settled:
                        continue  # an outcome landed after the claim read: look again
                    # jobs of a dead worker are due again once put back: look before leaving
                    if await self._reclaim_once():
                        continue
                    # a claim passes over a due job another transaction holds a moment (a
                    # Postgres heartbeat that raced the job's retry): look once more
                    empty_claims += 1
                    if empty_claims < 2:
                        continue
                    return
                # a running or unreported attempt may still make a job due (a retry)
                self._slot_free.clear()
                await until(self._slot_free.wait(), self._stopping)
                continue
            try:  # a queue at its limit is not waited on: a slot of it freeing wakes us
                events = (self._stopping, self._slot_free)
                woken = await idle_wait(backend, slots, settings, free, self.id, *events)
            except Exception as exc:
                failures += 1
                await self._backend_trouble("wait", exc, failures)
                continue
            self._start_claimed(woken)  # jobs the wait claimed: run, even if stopping
            await asyncio.sleep(0)

    async def _backend_trouble(self, what: str, exc: Exception, failures: int) -> None:
        delay = backend_retry_delay(failures)
        log.warning("worker %s: %s failed (%s: %s); retrying in %.1fs",
                    self.id, what, type(exc).__name__, exc, delay)  # fmt: skip
        await until(asyncio.sleep(delay), self._stopping)

    def _start_claimed(self, records: list[JobRecord]) -> None:
        """Run each claimed attempt in an asyncio task of its own (its own context,
        cancellable and time-limited alone), named after its job's id; it calls `finished`
        as it ends. When the loop has no task factory, the task is made as
        `loop.create_task` would, minus its checks. (A name given costs less than none on
        Python 3.11: the task would format a `Task-<n>` of its own.)"""
        if not records:
            return
        if faults.ARMED is not None:
            faults.reached("after_claim")
        loop = asyncio.get_running_loop()
        plain = loop.get_task_factory() is None
        running, limits = self._running, self._slots.limits
        self.counters.started += len(records)
        for execution in Execution.of_claim(records, self._services, self.finished):
            key = execution.key
            # this worker claimed the job again: its lease ran out (a stalled heartbeat) and
            # the job was put back while the previous attempt still ran here. That is stale.
            stale = running.get((key[0], key[1] - 1)) if key[1] > 1 else None
            if stale is not None:
                stale.cancel("lost")
                execution.previous = stale.task  # a def function may take a while to return
            running[key] = execution
            if limits is not None:  # only queues with limits are counted
                self._slots.taken(execution.record.queue)
            if plain:
                execution.task = asyncio.Task(execution.run(), name=key[0])  # type: ignore[arg-type]
            else:
                execution.task = loop.create_task(execution.run(), name=key[0])  # type: ignore[arg-type]

    async def _store_progress(self, make_beat: Callable[[], Beat | None]) -> None:
        async with self._beating:  # after a heartbeat in flight has landed
            if (beat := make_beat()) is not None:
                await self.runner.backend.heartbeat([beat], self.settings.lease)

    def finished(self, execution: Execution, outcome: Outcome | None) -> None:
        """An attempt ended: free its slot and hold `outcome` (None: nothing) to report."""
        key = execution.key
        if self._running.get(key) is execution:
            del self._running[key]
            if self._slots.limits is not None:
                self._slots.freed(execution.record.queue)
        if self.on_attempt_end is not None:
            ended = AttemptOutcome.LOST if outcome is None else ATTEMPT_OUTCOMES[outcome.kind]
            self.on_attempt_end(execution.record, ended, time.monotonic() - execution.started)
        self._slot_free.set()
        if outcome is not None:
            self._outbox.add(outcome, self._hook_calls.after(execution, outcome))

    def progress_reported(self) -> None:
        """Ask for a heartbeat now, to store a task's progress; callable from any thread
        (a `def` task reports from its own)."""
        loop = self._loop
        if loop is None:
            return
        try:
            in_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            in_loop = False
        if in_loop:
            self._beat_now.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the worker is gone
                loop.call_soon_threadsafe(self._beat_now.set)

    # -- shutdown --------------------------------------------------------------------------

    async def _flush_all(self) -> None:
        """Deliver every outcome still held, retrying a failing backend for a while."""
        for attempt in range(20):
            if not self._outbox.pending:
                return
            try:
                await self._flush_once()
            except Exception as exc:
                await self._backend_trouble("final flush", exc, attempt + 1)
        if self._outbox.pending:
            log.error(
                "worker %s: could not report %d outcomes; their jobs will run again "
                "after their lease expires",
                self.id,
                len(self._outbox.pending),
            )

    # -- background loops ------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        outbox, failures = self._outbox, 0
        while True:
            await outbox.wake.wait()
            outbox.wake.clear()
            try:
                await self._flush_once()
                failures = 0
            except Exception as exc:
                failures += 1
                outbox.wake.set()
                await self._backend_trouble("reporting outcomes", exc, failures)

    async def _flush_once(self) -> None:
        rejected = await self._outbox.flush_once(self.runner.backend)
        self.counters.rejected += rejected
        self._slot_free.set()  # reported outcomes may have made jobs due (burst mode re-checks)

    async def _heartbeat_loop(self) -> None:
        interval = self.settings.heartbeat_interval
        announced_at = float("-inf")
        while True:
            loop_time = asyncio.get_running_loop().time()
            if loop_time - announced_at >= interval:
                announced_at = loop_time
                await self._announce()
            await self._renew_leases()
            await anyio.sleep(min(0.1, interval))
            with anyio.move_on_after(interval):
                await self._beat_now.wait()
            self._beat_now.clear()

    async def _renew_leases(self) -> None:
        async with self._beating:  # a task's last progress is sent after, never before
            await heartbeat.renew_leases(
                self.runner.backend,
                self._running,
                self._outbox.unreported,
                self.settings.lease,
                self.id,
            )

    async def _cancel_signal_loop(self) -> None:
        await heartbeat.listen_for_cancels(
            self.runner.backend,
            lambda: {e.record.id for e in self._running.values()},
            self._beat_now,
            self.id,
        )

    async def _announce(self) -> None:
        record = heartbeat.this_process(
            self.id, self.queues, self.settings.concurrency, len(self._running), self.started_at
        )
        ttl = max(3 * self.settings.heartbeat_interval, self.settings.lease)
        await heartbeat.announce(self.runner.backend, record, ttl)

    async def _retire(self) -> None:
        await heartbeat.retire(self.runner.backend, self.id)

    async def _reclaim_loop(self) -> None:
        every = self.settings.reclaim_every
        while True:
            await anyio.sleep(every * (0.75 + secrets.randbelow(500) / 1000))
            await self._reclaim_once()

    async def _reclaim_once(self) -> int:
        """Put back jobs whose worker stopped renewing their lease; answers how many."""
        return await heartbeat.reclaim(self.runner.backend, self.id, self.on_rescue)
