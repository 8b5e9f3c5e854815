"""Outcome hooks, as a worker runs them: once the backend has accepted an attempt's outcome,
each hook of its kind (the task's, then the runner's) is called in a task of its own, a
plain function in a thread. What a hook raises is logged, and goes no further; a stopping
worker waits up to its grace for hooks still running, then cancels them (a plain function's
thread, which nothing can stop, is left to finish alone)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from taskrunner.backend import JobRecord, JobState, Outcome, OutcomeKind
from taskrunner.declare import is_async_callable
from taskrunner.hooks import NO_HOOKS, AttemptEnded, HookKind, OutcomeHook, RunnerHooks
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
    if kind is HookKind.RETRY:
        state = JobState.QUEUED if outcome.delay <= 0 else JobState.SCHEDULED
    else:
        state = JobState.SUCCEEDED if kind is HookKind.SUCCESS else JobState.FAILED
    job = JobInfo.from_record_as(record, state, outcome.result, outcome.error, worker)
    retry_in = outcome.delay if kind is HookKind.RETRY else None
    return AttemptEnded(job, kind, exception, retry_in, worker)


Hooks = tuple[tuple[OutcomeHook, bool], ...]  # each with whether it is a coroutine function


class HookCalls:
    """The outcome hooks of one worker's jobs, and the calls of them still running. Which
    hooks a task's jobs have is worked out once per task and kind, and again once the
    runner's hooks or the task registered under that name changed."""

    def __init__(
        self, hooks: RunnerHooks, tasks: Mapping[str, Task[..., Any]], worker: str
    ) -> None:
        self.hooks = hooks
        self.tasks = tasks
        self.worker = worker
        self.running: set[asyncio.Task[None]] = set()
        self._known: dict[tuple[str, HookKind], tuple[Task[..., Any] | None, Hooks]] = {}
        self._changes = hooks.changes

    def after(self, execution: Execution, outcome: Outcome) -> Callable[[], None] | None:
        """What to do once `outcome` is recorded: start its hooks (None: it has none)."""
        if not self.hooks.changes:  # no runner-wide outcome hook was ever added
            task = self.tasks.get(execution.record.task)
            if task is None or task.settings.hooks is NO_HOOKS:
                return None  # the common case, told without the table of hooks by kind
        kind = KINDS.get(outcome.kind)
        if kind is None:
            return None
        record = execution.record
        known = self._known.get((record.task, kind))
        if (
            known is not None
            and known[0] is self.tasks.get(record.task)
            and self._changes == self.hooks.changes
        ):
            hooks = known[1]
        else:
            hooks = self._hooks_of(record.task, kind)
        if not hooks:
            return None
        return functools.partial(self._start, record, outcome, execution.raised, hooks)

    def _hooks_of(self, name: str, kind: HookKind) -> Hooks:
        if self._changes != self.hooks.changes:
            self._known.clear()
            self._changes = self.hooks.changes
        task = self.tasks.get(name)
        own = None if task is None else task.settings.hooks
        hooks = tuple((hook, is_async_callable(hook)) for hook in self.hooks.for_task(kind, own))
        self._known[name, kind] = (task, hooks)
        return hooks

    def _start(
        self,
        record: JobRecord,
        outcome: Outcome,
        exception: BaseException | None,
        hooks: Hooks,
    ) -> None:
        ended = attempt_ended(record, outcome, exception, self.worker)
        call = asyncio.get_running_loop().create_task(self._call_all(hooks, ended))
        self.running.add(call)
        call.add_done_callback(self.running.discard)

    async def _call_all(self, hooks: Hooks, ended: AttemptEnded) -> None:
        for hook, is_async in hooks:
            try:
                if is_async:
                    await hook(ended)  # type: ignore[misc]
                else:
                    await call_in_thread(hook, ended)
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


async def call_in_thread(hook: OutcomeHook, ended: AttemptEnded) -> None:
    """Call the plain function `hook` with `ended` in a thread (awaiting what it answers,
    if that is awaitable)."""
    # a thread cannot be stopped: a worker that stops leaves a hook still running behind
    answer = await anyio.to_thread.run_sync(hook, ended, abandon_on_cancel=True)
    if inspect.isawaitable(answer):
        await answer
