"""Tasks: registered functions, their settings, and how calls become jobs."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from taskrunner import _validation as validation
from taskrunner._serialization import encode_call
from taskrunner.arguments import ArgumentCheck
from taskrunner.backend import NewJob
from taskrunner.enqueue_options import META_EXPIRES_AT as META_EXPIRES_AT
from taskrunner.enqueue_options import META_EXPIRES_IN as META_EXPIRES_IN
from taskrunner.enqueue_options import META_TIMEOUT as META_TIMEOUT
from taskrunner.enqueue_options import EnqueueOptions as EnqueueOptions
from taskrunner.enqueue_options import JobPlan
from taskrunner.enqueue_options import make_options as make_options
from taskrunner.errors import ConfigurationError
from taskrunner.handle import Job
from taskrunner.hooks import NO_HOOKS, TaskHooks
from taskrunner.job import JobInfo
from taskrunner.limits import NO_FLOW, FlowFields, Limit, Rate, TaskFlow
from taskrunner.policy import MIN_SCHEDULED_RESULT_TTL
from taskrunner.retry import MAX_SECONDS, seconds
from taskrunner.schedules import Schedule
from taskrunner.telemetry import tracing

P = ParamSpec("P")
Q = ParamSpec("Q")
T = TypeVar("T")
U = TypeVar("U")


class Enqueuer(Protocol):
    """What a `Task` asks of the runner it is registered with (a `TaskRunner`): the payload
    limit, and ways to store prepared jobs (from async and from sync code)."""

    max_payload: int

    async def enqueue_many(
        self, prepared: Iterable[PreparedJob[U]], *, connection: Any = None
    ) -> list[Job[U]]: ...

    def enqueue_many_sync(
        self, prepared: Iterable[PreparedJob[U]], *, connection: Any = None
    ) -> list[Job[U]]: ...

    def call_sync(self, fn: Callable[Q, Awaitable[U]], *args: Q.args, **kwargs: Q.kwargs) -> U: ...


@dataclass(frozen=True, slots=True)
class TaskSettings:
    """How a task's jobs are queued, retried and kept."""

    name: str
    queue: str = "default"
    retries: int = 3
    backoff: Callable[[int], float] | None = None  # None: the runner's default backoff
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    timeout: float | None = None
    priority: int = 0
    schedule: Schedule | None = None
    result_ttl: float | None = None  # None: the runner's default
    limit: Limit | None = None
    rate: Rate | None = None
    hooks: TaskHooks = NO_HOOKS  # its own on_success, on_retry and on_failure

    def __post_init__(self) -> None:
        validation.task_name(self.name)
        validation.queue_name(self.queue)
        validation.priority(self.priority)
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigurationError(
                f"task {self.name!r}: retries must be an int >= 0, got {self.retries!r}"
            )
        if self.timeout is not None and not 0 < self.timeout <= MAX_SECONDS:  # NaN too
            raise ConfigurationError(
                f"task {self.name!r}: timeout must be > 0 seconds (at most ten years) or None"
            )
        if self.result_ttl is not None:
            seconds(self.result_ttl, f"task {self.name!r}: result_ttl")
        if self.limit is not None and not isinstance(self.limit, Limit):
            raise ConfigurationError(f"task {self.name!r}: limit= takes a Limit: {self.limit!r}")
        if self.rate is not None and not isinstance(self.rate, Rate):
            raise ConfigurationError(f"task {self.name!r}: rate= takes a Rate, not {self.rate!r}")
        if not all(isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_on):
            raise ConfigurationError(f"task {self.name!r}: retry_on must be exception types")
        if (
            self.schedule is not None
            and self.result_ttl is not None
            and self.result_ttl < MIN_SCHEDULED_RESULT_TTL
        ):
            raise ConfigurationError(
                f"task {self.name!r} is recurring, so each tick's record is kept at least "
                f"{MIN_SCHEDULED_RESULT_TTL:.0f}s (it guards the tick against a second run); "
                f"result_ttl={self.result_ttl} is too short"
            )


def new_job(
    settings: TaskSettings, options: EnqueueOptions, payload: bytes, flow: FlowFields = NO_FLOW
) -> NewJob:
    """The job one call of a task stores: the task's settings, overridden by the call's
    options, with the call's `flow` (its limit and rate keys, from `Task.flow_of`). Every
    way of enqueuing (a task, a recurring tick, the CLI) builds it so (a task through the
    `JobPlan` it keeps)."""
    return plan_of(settings, options).job(payload, flow)


def plan_of(settings: TaskSettings, options: EnqueueOptions) -> JobPlan:
    """What every job of a task with `settings`, enqueued with `options`, shares."""
    return JobPlan(settings.name, settings.queue, settings.priority, settings.retries, options)


@dataclass(frozen=True, slots=True)
class PreparedJob(Generic[T]):
    """A call of a task, ready to enqueue (alone or in a batch with `runner.enqueue_many`)."""

    task: Task[..., T]
    new: NewJob


class Task(Generic[P, T]):
    """A function registered with a runner. Call it to run the function inline; `enqueue`
    to have a worker run it."""

    def __init__(
        self,
        runner: Enqueuer,
        fn: Callable[P, Any],
        settings: TaskSettings,
        options: EnqueueOptions | None = None,
    ) -> None:
        self.runner = runner
        self.fn = fn
        self.settings = settings
        self.is_async = inspect.iscoroutinefunction(fn)
        self._options = self._checked(options or EnqueueOptions())
        self._plan = plan_of(settings, self._options)
        self.flow = TaskFlow(fn, settings.name, settings.limit, settings.rate)
        self._flowless = settings.limit is None and settings.rate is None
        self.arguments = ArgumentCheck(fn, settings.name)
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", settings.name)
        self.__wrapped__ = fn

    def _checked(self, options: EnqueueOptions) -> EnqueueOptions:
        settings = self.settings
        if options.limit_key is not None and settings.limit is None:
            raise ConfigurationError(
                f"task {settings.name!r} has no Limit, so limit_key= has nothing to replace"
            )
        if options.rate_key is not None and settings.rate is None:
            raise ConfigurationError(
                f"task {settings.name!r} has no Rate, so rate_key= has nothing to replace"
            )
        return options

    @property
    def name(self) -> str:
        return self.settings.name

    def __repr__(self) -> str:
        return f"<Task {self.name!r} queue={self.settings.queue!r}>"

    def flow_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> FlowFields:
        """The limit and rate keys (and numbers) a call with these arguments carries."""
        options = self._options
        return self.flow.fields(args, kwargs, options.limit_key, options.rate_key)

    def prepare(self, *args: P.args, **kwargs: P.kwargs) -> PreparedJob[T]:
        """Encode a call without enqueuing it, for `runner.enqueue_many`. Arguments that do
        not fit the task's signature raise `InvalidArguments`."""
        return PreparedJob(self, self._new_job(args, kwargs))

    def _new_job(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> NewJob:
        """The job of one call: its arguments checked (`InvalidArguments`), its flow keys
        worked out, its payload encoded (`SerializationError`, `PayloadTooLarge`), in this
        order, before anything is stored."""
        self.arguments.check(args, kwargs)
        flow = NO_FLOW if self._flowless else self.flow_of(args, kwargs)
        plan = self._plan
        meta = plan.meta  # the per-enqueue timeout and expiry, and the caller's trace context
        if tracing.ENABLED and (carrier := tracing.outgoing_context()):
            meta = {**(meta or {}), tracing.META_PARENT: carrier}
        return plan.job(encode_call(args, kwargs, self.runner.max_payload, meta), flow)

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job[T]:
        """Store a job for a worker to run `fn(*args, **kwargs)`; returns at once."""
        prepared = PreparedJob(self, self._new_job(args, kwargs))
        (job,) = await self.runner.enqueue_many([prepared], connection=self._options.connection)
        return job

    def enqueue_sync(self, *args: P.args, **kwargs: P.kwargs) -> Job[T]:
        """`enqueue` from sync code (a Django view, a Flask handler, a script, a `def`
        task's thread): blocks until the job is stored. See `TaskRunner.call_sync`."""
        prepared = PreparedJob(self, self._new_job(args, kwargs))
        (job,) = self.runner.enqueue_many_sync([prepared], connection=self._options.connection)
        return job

    def options(
        self,
        *,
        delay: float | timedelta | None = None,
        at: datetime | None = None,
        key: str | None = None,
        priority: int | None = None,
        queue: str | None = None,
        connection: Any = None,
        retries: int | None = None,
        timeout: float | timedelta | None = None,
        expires: float | timedelta | datetime | None = None,
        key_ttl: float | timedelta | None = None,
        limit_key: str | None = None,
        rate_key: str | None = None,
        after: Iterable[Job[Any] | JobInfo | str] | None = None,
        run_anyway: bool | None = None,
    ) -> Task[P, T]:
        """The same task with per-call options: `delay` (seconds or timedelta) or `at` (an
        aware datetime), a dedup `key`, a `priority` (lower runs first), another `queue`, or
        the caller's database `connection` to enqueue inside its open transaction (Postgres).

        `retries` and `timeout` replace the task's own for this job; `expires` (seconds or a
        timedelta after the enqueue, or an aware datetime) cancels the job instead of
        running it when no attempt started by then.

        `key_ttl` (seconds or a timedelta; needs `key`) makes the key a dedup window: for
        that long after this enqueue, another enqueue with the same key and a `key_ttl` in
        the same queue stores nothing and answers this job, whatever became of it.

        `limit_key` and `rate_key` replace the keys of the task's `Limit` and `Rate` for
        this job (a task without one refuses them).

        `after` (jobs or job ids) makes the job wait (state `waiting`) until every one of
        them succeeded; if one fails for good or is cancelled, the job is cancelled with a
        `DependencyFailed` error naming it, unless `run_anyway=True`, which runs it once
        they all ended, whatever the outcome. An id that is not stored raises
        `DependencyNotFound` at enqueue.
        """
        options = make_options(
            self._options,
            delay=delay,
            at=at,
            key=key,
            priority=priority,
            queue=queue,
            connection=connection,
            retries=retries,
            timeout=timeout,
            expires=expires,
            key_ttl=key_ttl,
            limit_key=limit_key,
            rate_key=rate_key,
            after=after,
            run_anyway=run_anyway,
        )
        task = copy.copy(self)  # shares the compiled keys and the signature
        task._options = self._checked(options)
        task._plan = plan_of(self.settings, task._options)
        return task


class AsyncTask(Task[P, T]):
    """A task defined with `async def`."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]:
        coro: Coroutine[Any, Any, T] = self.fn(*args, **kwargs)
        return coro


class SyncTask(Task[P, T]):
    """A task defined with plain `def`; workers run it in a thread."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        value: T = self.fn(*args, **kwargs)
        return value
