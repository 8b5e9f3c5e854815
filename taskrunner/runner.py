"""`TaskRunner`: the registry of tasks and the front door to a backend."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, ParamSpec, Protocol, Self, TypeVar, overload

from taskrunner import _validation as validation
from taskrunner import queries
from taskrunner._coalesce import Enqueues
from taskrunner._serialization import DEFAULT_MAX_PAYLOAD
from taskrunner.backend import (
    Backend,
    HasUrl,
    Inspection,
    JobState,
    WorkerRecord,
    load_backend,
    redact,
)
from taskrunner.batch import BatchMethods
from taskrunner.blocking import BlockingMethods
from taskrunner.context import State
from taskrunner.declare import declare, default_task_name
from taskrunner.dependencies import waiting_jobs
from taskrunner.errors import ConfigurationError, JobNotFound
from taskrunner.handle import Job
from taskrunner.hooks import HookMethods, OutcomeHook, RunnerHooks, own_hooks
from taskrunner.job import JobInfo
from taskrunner.limits import Limit, Rate
from taskrunner.policy import DEFAULT_FAILED_TTL, DEFAULT_RESULT_TTL
from taskrunner.queries import JobPage as JobPage
from taskrunner.queries import parse_state as parse_state
from taskrunner.retry import DEFAULT_BACKOFF, BackoffLike, as_backoff, seconds
from taskrunner.schedules import Schedule
from taskrunner.stats import DEFAULT_WINDOW, Stats, check_window
from taskrunner.task import AsyncTask, PreparedJob, SyncTask, Task, TaskSettings
from taskrunner.telemetry import tracing
from taskrunner.worker import Worker, WorkerSettings

P = ParamSpec("P")
T = TypeVar("T")
EnqueuedHook = Callable[[list[Job[Any]]], Awaitable[None]]  # what enqueue_many just stored


class TaskDecorator(Protocol):
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Coroutine[Any, Any, T]], /
    ) -> AsyncTask[P, T]: ...
    @overload
    def __call__(self, fn: Callable[P, T], /) -> SyncTask[P, T]: ...


class TaskRunner(BatchMethods, BlockingMethods, HookMethods):
    """Tasks, their backend, and the way to enqueue, inspect and run jobs.

    `url` picks the backend (`memory://`, `redis://...`, `postgresql://...`); without it,
    `TASKRUNNER_URL` from the environment, else `memory://`. `result_ttl` is how long a
    succeeded or cancelled job's record is kept, `failed_ttl` a failed one's (None: until
    purged), in seconds.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        backend: Backend | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        result_ttl: float | None = DEFAULT_RESULT_TTL,
        failed_ttl: float | None = DEFAULT_FAILED_TTL,
        backoff: BackoffLike = DEFAULT_BACKOFF,
        default_queue: str = "default",
    ) -> None:
        given = url or (backend.url if isinstance(backend, HasUrl) else None)
        self.url = given or os.environ.get("TASKRUNNER_URL") or "memory://"
        self.backend: Backend = backend if backend is not None else load_backend(self.url)
        self._owns_backend = backend is None
        if max_payload <= 0:
            raise ConfigurationError(f"max_payload must be a positive byte count: {max_payload}")
        self.max_payload = max_payload
        self.result_ttl = None if result_ttl is None else seconds(result_ttl, "result_ttl")
        self.failed_ttl = None if failed_ttl is None else seconds(failed_ttl, "failed_ttl")
        self.backoff = as_backoff(backoff)
        self.default_queue = validation.queue_name(default_queue)
        self.tasks: dict[str, Task[..., Any]] = {}
        self.state = State()
        self.hooks = RunnerHooks()
        self._resource_users = 0
        self._connected = False
        self._connect_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop it connected on
        self._enqueued_hook: EnqueuedHook | None = None  # for taskrunner.testing's eager mode
        self._enqueues = Enqueues()

    def __repr__(self) -> str:
        return f"TaskRunner({redact(self.url)!r})"

    # -- registering tasks and hooks ---------------------------------------------------------

    @overload
    def task(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Coroutine[Any, Any, T]], /
    ) -> AsyncTask[P, T]: ...
    @overload
    def task(self, fn: Callable[P, T], /) -> SyncTask[P, T]: ...
    @overload
    def task(
        self,
        *,
        name: str | None = None,
        queue: str | None = None,
        retries: int = 3,
        backoff: BackoffLike | None = None,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        timeout: float | None = None,
        priority: int = 0,
        schedule: Schedule | None = None,
        result_ttl: float | None = None,
        limit: Limit | None = None,
        rate: Rate | None = None,
        on_success: OutcomeHook | None = None,
        on_retry: OutcomeHook | None = None,
        on_failure: OutcomeHook | None = None,
    ) -> TaskDecorator: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        queue: str | None = None,
        retries: int = 3,
        backoff: BackoffLike | None = None,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        timeout: float | None = None,
        priority: int = 0,
        schedule: Schedule | None = None,
        result_ttl: float | None = None,
        limit: Limit | None = None,
        rate: Rate | None = None,
        on_success: OutcomeHook | None = None,
        on_retry: OutcomeHook | None = None,
        on_failure: OutcomeHook | None = None,
    ) -> Any:
        """Register a function as a task, with `@runner.task` or `@runner.task(...)`.

        Options: `name` (default: module.function), `queue`, `retries` (attempts after the
        first), `backoff`, `retry_on` (only these exceptions are retried), `timeout` (seconds
        per attempt), `priority` (lower runs first), `schedule` (`every(...)` or `cron(...)`),
        `result_ttl` (seconds a finished job is kept), `limit` (a `Limit`: at most so many
        running per key), `rate` (a `Rate`: at most so many starts per window per key), and
        the task's outcome hooks `on_success`, `on_retry`, `on_failure` (see `AttemptEnded`).
        """

        def register(fn: Callable[..., Any]) -> Task[..., Any]:
            if not callable(fn):
                raise ConfigurationError(f"@runner.task decorates a function, got {fn!r}")
            settings = TaskSettings(
                name=default_task_name(fn) if name is None else name,
                queue=self.default_queue if queue is None else queue,
                retries=retries,
                backoff=None if backoff is None else as_backoff(backoff),
                retry_on=retry_on if isinstance(retry_on, tuple) else (retry_on,),
                timeout=timeout,
                priority=priority,
                schedule=schedule,
                result_ttl=result_ttl,
                limit=limit,
                rate=rate,
                hooks=own_hooks(on_success, on_retry, on_failure),
            )
            return declare(self, self.tasks, fn, settings)

        return register if fn is None else register(fn)

    # -- connection ------------------------------------------------------------------------

    def use_url(self, url: str) -> None:
        """Point the runner at another backend URL (before it has connected)."""
        if self._connected:
            raise ConfigurationError("use_url() must be called before the runner connects")
        self.backend = load_backend(url)
        self.url, self._owns_backend = url, True

    async def connect(self) -> None:
        """Connect to the backend (done on first use; call it to fail fast at startup)."""
        if self._connected and not self._forgot_dead_loop():
            return
        async with self._connect_lock:
            if not self._connected:
                await self.backend.connect()
                self._loop = asyncio.get_running_loop()
                self._connected = True

    async def close(self) -> None:
        if self._connected and not self._forgot_dead_loop():
            self._connected, self._loop = False, None
            await self.backend.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- jobs ------------------------------------------------------------------------------

    async def enqueue_many(
        self, prepared: Iterable[PreparedJob[T]], *, connection: Any = None
    ) -> list[Job[T]]:
        """Enqueue many prepared calls (`task.prepare(...)`) in one backend round trip.

        With `connection` (Postgres: an asyncpg connection in an open transaction), the jobs
        are stored in the caller's transaction: they exist only if it commits.
        """
        batch = list(prepared)
        if not batch:
            return []
        loop = self._loop
        if self._connected and loop is not None and not loop.is_closed():
            backend = self.backend  # `connected()` without its coroutine, on every enqueue
        else:
            backend = await self.connected()  # (anew, if its loop ended: maybe a new backend)
        news = [p.new for p in batch]
        waits = any(new.after for new in news)
        store = self._enqueues.store(backend, connection, waits or any(n.batch_id for n in news))
        if waits:
            ttls = [p.task.settings.result_ttl for p in batch]
            news = waiting_jobs(backend, news, ttls, self.result_ttl)
        if tracing.ENABLED and tracing.in_trace():
            queues = {new.queue for new in news}
            with tracing.enqueue_span(news[0].task, queues, [new.id for new in news]):
                ids = await store(news)
        else:
            ids = await store(news)
        jobs: list[Job[T]] = [Job(self, i, i != p.new.id) for p, i in zip(batch, ids, strict=True)]
        if self._enqueued_hook is not None:
            await self._enqueued_hook(jobs)
        return jobs

    async def get_job(self, job_id: str) -> JobInfo:
        """Everything known about a job, with what holds it if it could run now but waits
        (`JobInfo.held_by`). Raises `JobNotFound` for an unknown id."""
        backend = await self.connected()
        (record,) = await backend.get([job_id])
        if record is None:
            raise JobNotFound(f"no job with id {job_id!r} (never enqueued, or its record expired)")
        return await queries.job_info(backend, record)

    async def get_jobs(self, job_ids: Sequence[str]) -> list[JobInfo | None]:
        """Several jobs in one round trip; None where an id is unknown."""
        records = await (await self.connected()).get(job_ids)
        return [None if r is None else JobInfo.from_record(r) for r in records]

    async def wait_for(self, job_id: str, timeout: float | None = None) -> JobInfo | None:
        """Wait until the job is finished and return it; None if `timeout` passes first."""
        backend = await self.connected()
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            remaining = 3600.0 if deadline is None else deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                (record,) = await backend.get([job_id])
                if record is None:
                    raise JobNotFound(f"no job with id {job_id!r}")
                return JobInfo.from_record(record) if record.state.finished else None
            record = await backend.wait_finished(job_id, remaining)
            if record is not None:
                return JobInfo.from_record(record)
            (current,) = await backend.get([job_id])
            if current is None:
                raise JobNotFound(f"no job with id {job_id!r} (never enqueued, or it expired)")
            if current.state.finished:
                return JobInfo.from_record(current)

    async def cancel(self, job_id: str) -> JobState:
        """Cancel a job. A queued or scheduled job is cancelled at once; a running one is
        asked to stop (its worker cancels it at its next heartbeat). Answers the job's state
        afterwards. Raises `JobNotFound` for an unknown id."""
        (state,) = await (await self.connected()).cancel([job_id], self.result_ttl)
        if state is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        return state

    async def retry(self, job_id: str) -> bool:
        """Run a failed or cancelled job again (one more attempt), or a scheduled job now.
        False if the job is in another state. Raises `JobNotFound` for an unknown id."""
        (done,) = await (await self.connected()).retry([job_id])
        if not done:
            (record,) = await (await self.connected()).get([job_id])
            if record is None:
                raise JobNotFound(f"no job with id {job_id!r}")
        return done

    async def stats(
        self, queues: Sequence[str] | None = None, window: float = DEFAULT_WINDOW
    ) -> Stats:
        """Per queue: how many jobs are in each state (`stats["q"][JobState.QUEUED]`), and,
        where the backend records activity, throughput, failure rate and runtimes over the
        last `window` seconds (from 1 to 3600, counted from the start of the second the
        window begins in: see `QueueStats.span`) and the age of the longest-waiting due job;
        plus the workers alive (`stats.workers`). `QueueStats.paused` marks paused queues,
        which are listed even without jobs."""
        check_window(window)
        return await queries.stats(await self.connected(), queues, window)

    async def pause(self, queue: str) -> None:
        """Pause `queue`: no worker takes its jobs until `resume` (running ones finish, and
        enqueues still succeed). Kept in the backend; pausing a paused queue changes nothing."""
        name = validation.queue_name(queue)
        await queries.pausing(await self.connected()).pause([name])

    async def resume(self, queue: str) -> None:
        """Let workers take `queue`'s jobs again, waking those that wait."""
        name = validation.queue_name(queue)
        await queries.pausing(await self.connected()).resume([name])

    async def paused(self) -> list[str]:
        """The names of the paused queues, sorted."""
        return await queries.pausing(await self.connected()).paused()

    async def list_jobs(
        self,
        *,
        queue: str | None = None,
        state: JobState | str | None = None,
        task: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> JobPage:
        """Jobs matching every given filter, newest first, `limit` at a time. For the next
        page pass the answer's `next` as `before`. `since`/`until` bound the enqueue time."""
        return await queries.list_jobs(
            await self._inspection(),
            limit,
            before,
            queue=queue,
            state=state,
            task=task,
            since=since,
            until=until,
        )

    async def workers(self) -> list[WorkerRecord]:
        """The workers alive now (empty on a backend that keeps no worker registry)."""
        backend = await self.connected()
        return await backend.workers() if isinstance(backend, Inspection) else []

    async def _inspection(self) -> Inspection:
        backend = await self.connected()
        if not isinstance(backend, Inspection):
            raise ConfigurationError(
                f"the {type(backend).__name__} cannot list jobs or report activity"
            )
        return backend

    async def purge(
        self, states: Sequence[JobState], older_than: float | None = None, queue: str | None = None
    ) -> int:
        """Delete jobs in `states` (finished more than `older_than` seconds ago, if given)."""
        age = None if older_than is None else seconds(older_than, "older_than")
        backend = await self.connected()
        before = None if age is None else await backend.now() - age
        return await backend.purge(states, before, queue)

    async def connected(self) -> Backend:
        """The backend, connected first if it was not."""
        if not self._connected or self._loop_closed():
            await self.connect()
        return self.backend

    # -- workers ---------------------------------------------------------------------------

    def worker(self, **settings: Any) -> Worker:
        """A worker for this runner's tasks, as an async context manager to embed in an app:
        `async with runner.worker(concurrency=20): ...`. Settings: see `WorkerSettings`."""
        return Worker(self, WorkerSettings(**settings))
