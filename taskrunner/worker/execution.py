"""One attempt of one job: decode, call the task, turn what happened into an `Outcome`.

An `Execution` gets what it needs from its worker as `Services` (the tasks, the policy, the
counters, the thread limiter, ways to ask for a heartbeat) and answers the attempt's outcome
from `run()`; whether to retry, and the TTLs, come from `taskrunner.policy`: the backend only
applies outcomes.
A plain `def` task runs in a thread, which nothing can interrupt: when its attempt times out
or is cancelled, the attempt keeps its slot (and its lease) until the function returns, so
that two attempts of one job never run at once; only a stopping worker leaves it behind.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from taskrunner._serialization import encode_result
from taskrunner.backend import Beat, JobRecord, Outcome, OutcomeKind, faults
from taskrunner.context import JobContext, _current
from taskrunner.errors import JobError, SerializationError
from taskrunner.job import MESSAGE_LIMIT, cut, message_of
from taskrunner.policy import past_last_attempt
from taskrunner.retry import MAX_SECONDS, Snooze
from taskrunner.task import Task
from taskrunner.telemetry import tracing
from taskrunner.telemetry.logs import job_event
from taskrunner.worker import flow
from taskrunner.worker.failures import (
    TRACEBACK_LIMIT,
    call_of,
    error_of,
    stray,
    timed_out,
    unrunnable,
)
from taskrunner.worker.flow import CancelReason
from taskrunner.worker.services import Services
from taskrunner.worker.threads import leave_behind, start_thread

__all__ = ["TRACEBACK_LIMIT", "CancelReason", "Execution"]

log = logging.getLogger("taskrunner.job")

Ended = Callable[["Execution", Outcome | None], None]

NONE_RESULT = encode_result(None)  # what most tasks return, encoded once
# read once: on Python 3.11 an enum member read off its class is a slow lookup
SUCCEEDED = OutcomeKind.SUCCEEDED


class Execution:
    """Runs one claimed attempt (`run()`, in its own asyncio task) and answers its outcome,
    handing it to `ended` (the worker's) as the attempt ends. The worker cancels it
    (`cancel`) and renews its lease with its `beat()`. `key` is the job and attempt it runs:
    a worker may run two attempts of one job (it claimed the job again after its lease ran
    out). `traced` (make a span) and `logged` (log its INFO events) are asked once for all
    the attempts of a claim (see `of_claim`), not once per job."""

    __slots__ = (
        "context",
        "ended",
        "joining",
        "key",
        "leaving",
        "logged",
        "previous",
        "raised",
        "reason",
        "record",
        "services",
        "started",
        "task",
        "traced",
    )

    def __init__(
        self,
        record: JobRecord,
        services: Services,
        ended: Ended | None = None,
        traced: bool = False,
        logged: bool = True,
    ) -> None:
        self.record = record
        self.key = (record.id, record.attempt)
        self.services = services
        self.ended = ended
        self.traced = traced
        self.logged = logged
        self.task: asyncio.Task[None] | None = None
        self.context: JobContext | None = None
        self.reason: CancelReason | None = None
        self.started = time.monotonic()
        self.joining = False  # the attempt is over, its `def` function still runs
        # the worker stops: wait for no thread any longer (made when first needed)
        self.leaving: asyncio.Event | None = None
        # a stale attempt of the same job still ending in this worker: the task waits for it
        self.previous: asyncio.Task[None] | None = None
        self.raised: BaseException | None = None  # what the task raised, if it failed

    @classmethod
    def of_claim(
        cls, records: Iterable[JobRecord], services: Services, ended: Ended
    ) -> list[Execution]:
        """The executions of the attempts one claim took: whether to trace them and to log
        their INFO events is asked once for all of them."""
        traced = tracing.ENABLED and tracing.configured()
        logged = log.isEnabledFor(logging.INFO)
        # positional: a keyword call costs twice as much, once per job
        return [cls(r, services, ended, traced, logged) for r in records]

    def _leaving(self) -> asyncio.Event:
        if self.leaving is None:
            self.leaving = asyncio.Event()
        return self.leaving

    def cancel(self, reason: CancelReason) -> None:
        """Stop the attempt for `reason`. An attempt waiting for its `def` function to return
        keeps waiting, `reason` deciding its outcome, unless the worker is leaving."""
        if self.task is None or self.task.done():
            return
        if reason == "shutdown":
            self._leaving().set()
        if self.reason is not None:
            return
        if self.joining:
            if reason != "shutdown":  # a timed-out attempt asked to stop, or taken over
                self.reason = reason
            return
        self.reason = reason
        self.task.cancel()

    def beat(self) -> Beat:
        ctx, progress = self.context, None
        if ctx is not None and ctx.progress_reported and ctx.progress is not None:
            ctx.progress_reported = False
            progress = ctx.progress.encode()
        return Beat(self.record.id, self.record.attempt, progress, self.record.queue)

    def unsent_progress(self) -> Beat | None:
        """A beat with the progress reported since the last beat, if any was."""
        return self.beat() if self.context and self.context.progress_reported else None

    async def run(self) -> Outcome | None:
        """Run the attempt: what to tell the backend of it (None: nothing, it was lost),
        also handed to `ended`, however the attempt ends."""
        outcome: Outcome | None = None
        try:
            try:
                outcome = await self._attempt()
                if self.context is not None and self.context.progress is not None:
                    await self._report_last_progress()
            except Exception as exc:  # a bug of ours: never leave the job running unreported
                log.exception("job %s: the worker failed to run it", self.record.id)
                outcome = self._give_up(error_of(exc))
            if outcome is not None:
                outcome.queue = self.record.queue
        finally:
            if self.ended is not None:
                self.ended(self, outcome)
        return outcome

    async def _report_last_progress(self) -> None:
        """Progress goes out with heartbeats; what a task reported since the last one would
        be lost when it ends, so it gets one beat of its own, sent once a heartbeat still in
        flight (which may carry older progress) has landed, and before the outcome."""
        try:
            await self.services.store_progress(self.unsent_progress)
        except Exception as exc:
            log.debug("job %s: could not store its last progress (%s)", self.record.id, exc)

    async def _attempt(self) -> Outcome | None:
        record, services = self.record, self.services
        task = services.tasks.get(record.task)
        if task is None or past_last_attempt(record.attempt, record.max_attempts):
            return self._give_up(unrunnable(record, services.tasks))
        call = call_of(record, task)
        if isinstance(call, JobError):
            return self._give_up(call)
        args, kwargs, meta = call
        timeout, batch = task.settings.timeout, None
        if meta:  # options given at enqueue (most jobs have none)
            if (expiry := flow.expired(meta, record)) is not None:
                services.counters.cancelled += 1
                return flow.expired_outcome(record, expiry, self._result_ttl(task), self.started)
            timeout = flow.timeout_of(meta, timeout)
            batch = meta.get("batch")
        # positional, in JobContext's field order (no progress yet, none reported): a
        # keyword call costs twice as much, once per job
        self.context = ctx = JobContext(
            record, services.state, None, False, services.notify_progress, batch, services.fetch
        )
        if self.logged:
            job_event(log, logging.INFO, record, "running", worker=services.worker_id)
        token = _current.set(ctx)
        try:
            if self.previous is not None:
                await asyncio.wait([self.previous])  # never two attempts of a job at once
            if self.traced:
                value = await self._traced_call(task, args, kwargs, meta, timeout)
            elif timeout is None and task.is_async:
                value = await task.fn(*args, **kwargs)
            else:
                value = await self._call(task, args, kwargs, timeout)
        except asyncio.CancelledError as exc:
            return self._interrupted(task, exc)
        except Snooze as snooze:
            services.counters.snoozed += 1
            return flow.snoozed(record, snooze, self.started)
        except BaseException as exc:  # SystemExit from argparse, KeyboardInterrupt...: the
            return self._failure(task, exc)  # task's failure, never the worker's end
        finally:
            _current.reset(token)
        if faults.ARMED is not None:
            faults.reached("after_handler")
        try:
            result = NONE_RESULT if value is None else encode_result(value)
        except SerializationError as exc:
            return self._give_up(JobError("UnserializableResult", message_of(exc)))
        services.counters.succeeded += 1
        if self.logged:
            job_event(log, logging.INFO, record, "succeeded", started=self.started)
        ttl = self._result_ttl(task)
        return Outcome(record.id, record.attempt, SUCCEEDED, result, None, 0.0, ttl, record.queue)

    def _interrupted(self, task: Task[..., Any], exc: asyncio.CancelledError) -> Outcome | None:
        """The outcome of an attempt whose task raised `CancelledError`: the worker cancelled
        it (for `reason`), or the task raised it itself (a failure). Raises it again when
        the attempt was cancelled from outside the worker (the event loop is closing)."""
        current = asyncio.current_task()
        assert current is not None
        if self.reason is not None:
            current.uncancel()
            ttl = self._result_ttl(task) if self.reason == "requested" else None
            counters = self.services.counters
            return flow.cancelled(self.record, self.reason, counters, ttl, self.started)
        if current.cancelling():
            raise exc
        return self._failure(task, stray(exc))

    async def _traced_call(
        self,
        task: Task[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        meta: dict[str, Any],
        timeout: float | None,
    ) -> Any:
        started = tracing.start_attempt(self.record, meta)
        try:
            value = await self._call(task, args, kwargs, timeout)
        except BaseException as exc:
            tracing.end_attempt(started, exc, error_of(exc))
            raise
        tracing.end_attempt(started)
        return value

    async def _call(
        self, task: Task[..., Any], args: list[Any], kwargs: dict[str, Any], timeout: float | None
    ) -> Any:
        if not task.is_async:
            run = functools.partial(contextvars.copy_context().run, task.fn, *args, **kwargs)
            return await self._in_thread(run, timeout)
        if timeout is None:
            return await task.fn(*args, **kwargs)
        try:
            async with asyncio.timeout(timeout) as scope:
                return await task.fn(*args, **kwargs)
        except TimeoutError:
            if scope.expired():
                raise timed_out(timeout, " and was cancelled") from None
            raise

    async def _in_thread(self, run: Callable[[], Any], timeout: float | None) -> Any:
        """Call a `def` task's function in one of the worker's threads. When the attempt
        times out, is asked to stop or loses its lease, its outcome waits until the function
        returns (see `_join`); the worker stopping cuts the wait short."""
        thread = start_thread(run, self.services.limiter)
        try:
            async with asyncio.timeout(timeout) as scope:
                returned, value = await asyncio.shield(thread)
                if returned:
                    return value
                raise value
        except TimeoutError:
            if not scope.expired():
                raise
            why = f"ran longer than its timeout of {timeout:g}s"
        except asyncio.CancelledError:
            if self.reason is None or self.reason == "shutdown" or thread.done():
                if not thread.done():
                    leave_behind(thread, self.record)
                raise  # the function's own CancelledError, or the worker leaving
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            why = "was asked to stop" if self.reason == "requested" else "lost its lease"
        await self._join(thread, why)
        if self.reason is not None:
            raise asyncio.CancelledError
        ran = time.monotonic() - self.started
        if thread.done():
            raise timed_out(timeout, f"; its def function returned only after {ran:.1f}s")
        raise timed_out(timeout, "; its def function still ran when the worker stopped")

    async def _join(self, thread: asyncio.Future[Any], why: str) -> None:
        """Wait, holding the attempt's slot and renewing its lease, until the `def` function
        that runs in `thread` returns, or the worker stops."""
        self.joining = True
        job_event(
            log,
            logging.WARNING,
            self.record,
            "running",
            f"the attempt {why}, but a def task cannot be interrupted: its outcome (and any "
            "retry) waits until the function returns; its slot stays taken meanwhile",
            started=self.started,
        )
        leaving = asyncio.ensure_future(self._leaving().wait())
        try:
            await asyncio.wait((thread, leaving), return_when=asyncio.FIRST_COMPLETED)
        finally:
            leaving.cancel()
        if not thread.done():
            leave_behind(thread, self.record)

    def _result_ttl(self, task: Task[..., Any]) -> float | None:
        settings = task.settings  # the task is the one registered under the record's name
        return self.services.policy.result_ttl(
            self.record.task, settings.result_ttl, settings.schedule is not None
        )

    def _failure(self, task: Task[..., Any], exc: BaseException) -> Outcome:
        record, settings = self.record, task.settings
        self.raised = exc
        error = error_of(exc)
        decision = self.services.policy.decide(
            exc, record.attempt, record.max_attempts, settings.retry_on, settings.backoff
        )
        if not decision.retry:
            return self._give_up(error)
        if decision.problem is not None:
            log.error(
                "job %s: the backoff for attempt %d %s (expected seconds from 0 to %d); "
                "using the default backoff",
                record.id,
                record.attempt,
                decision.problem,
                MAX_SECONDS,
            )
        delay = decision.delay
        if faults.ARMED is not None:
            faults.reached("scheduling_retry")
        self.services.counters.retried += 1
        job_event(
            log,
            logging.INFO,
            record,
            "scheduled",
            f"{error.type}: {error.message}; retrying in {delay:.1f}s",
            started=self.started,
            delay=delay,
            error_type=error.type,
            error_message=error.message,
        )
        return Outcome(
            record.id, record.attempt, OutcomeKind.RETRY, error=error.encode(), delay=delay
        )

    def _give_up(self, error: JobError) -> Outcome:
        record = self.record
        error = JobError(error.type, cut(error.message, MESSAGE_LIMIT), error.traceback)
        self.services.counters.failed += 1
        job_event(
            log,
            logging.WARNING,
            record,
            "failed",
            f"{error.type}: {error.message}",
            started=self.started,
            error_type=error.type,
            error_message=error.message,
        )
        return Outcome(
            record.id,
            record.attempt,
            OutcomeKind.FAILED,
            error=error.encode(),
            ttl=self.services.policy.failed_ttl,
        )
