"""Outcome hooks, as a worker runs them: once the backend has accepted an attempt's outcome,
each hook of its kind (the task's, then the runner's) is called in a task of its own, a
plain function in a thread. What a hook raises is logged, and goes no further; a stopping
worker waits up to its grace for hooks still running, then cancels them (a plain function's
thread, which nothing can stop, is left to finish alone)."""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from taskrunner.backend import JobRecord, JobState, Outcome, OutcomeKind
from taskrunner.declare import is_async_callable
from taskrunner.hooks import AttemptEnded, HookKind, OutcomeHook, RunnerHooks
from taskrunner.job import JobInfo
from taskrunner.task import Task
from taskrunner.worker.execution import Execution

log = logging.getLogger("taskrunner.hooks")

KINDS = {
    OutcomeKind.SUCCEEDED: HookKind.SUCCESS,
    OutcomeKind.RETRY: HookKind.RETRY,
    OutcomeKind.FAILED: HookKind.FAILURE,
}


def attempt_ended(
    record: JobRecord, outcome: Outcome, exception: BaseException | None, worker: str
) -> AttemptEnded:
    """What the hooks of `outcome` (of the attempt of `record`) are given."""
    kind = KINDS[outcome.kind]
    ended = copy.copy(record)  # a record is a plain slotted dataclass: cheaper than replace
    if kind is HookKind.RETRY:
        ended.state = JobState.QUEUED if outcome.delay <= 0 else JobState.SCHEDULED
    else:
        ended.state = JobState.SUCCEEDED if kind is HookKind.SUCCESS else JobState.FAILED
    ended.result, ended.error, ended.worker = outcome.result, outcome.error, worker
    retry_in = outcome.delay if kind is HookKind.RETRY else None
    return AttemptEnded(JobInfo.from_record(ended), kind, exception, retry_in, worker)


class HookCalls:
    """The outcome hooks of one worker's jobs, and the calls of them still running."""

    def __init__(
        self, hooks: RunnerHooks, tasks: Mapping[str, Task[..., Any]], worker: str
    ) -> None:
        self.hooks = hooks
        self.tasks = tasks
        self.worker = worker
        self.running: set[asyncio.Task[None]] = set()

    def after(self, execution: Execution, outcome: Outcome) -> Callable[[], None] | None:
        """What to do once `outcome` is recorded: start its hooks (None: it has none)."""
        record, exception = execution.record, execution.raised
        kind = KINDS.get(outcome.kind)
        if kind is None:
            return None
        task = self.tasks.get(record.task)
        hooks = self.hooks.for_task(kind, None if task is None else task.settings.hooks)
        if not hooks:
            return None

        def start() -> None:
            ended = attempt_ended(record, outcome, exception, self.worker)
            call = asyncio.get_running_loop().create_task(self._call_all(hooks, ended))
            self.running.add(call)
            call.add_done_callback(self.running.discard)

        return start

    async def _call_all(self, hooks: tuple[OutcomeHook, ...], ended: AttemptEnded) -> None:
        for hook in hooks:
            try:
                await call_hook(hook, ended)
            except asyncio.CancelledError:
                raise
            except BaseException:  # SystemExit too: a hook never ends the worker
                log.exception(
                    "job %s (%s): its %s hook %s raised; the job's outcome stands",
                    ended.job.id,
                    ended.job.task,
                    ended.kind.value,
                    getattr(hook, "__qualname__", repr(hook)),
                )

    async def wait(self, grace: float) -> None:
        """Let the hooks still running end within `grace` seconds; cancel the rest."""
        if not self.running:
            return
        _, late = await asyncio.wait(list(self.running), timeout=grace)
        if late:
            log.warning("cancelling %d outcome hooks still running after %gs", len(late), grace)
            for call in late:
                call.cancel()
            await asyncio.wait(late)


async def call_hook(hook: OutcomeHook, ended: AttemptEnded) -> None:
    """Call `hook` with `ended`: awaited if it is a coroutine function, else in a thread
    (awaiting what it answers, if that is awaitable)."""
    if is_async_callable(hook):
        await hook(ended)  # type: ignore[misc]
        return
    # a thread cannot be stopped: a worker that stops leaves a hook still running behind
    answer = await anyio.to_thread.run_sync(hook, ended, abandon_on_cancel=True)
    if inspect.isawaitable(answer):
        await answer
