"""`Job`: the handle `enqueue` returns, to look up a job or wait for its result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, ParamSpec, Protocol, TypeVar, cast

from taskrunner.backend import JobState
from taskrunner.errors import JobFailed, JobTimeout
from taskrunner.job import JobInfo

T = TypeVar("T")
U = TypeVar("U")
P = ParamSpec("P")


class JobSource(Protocol):
    """What a `Job` handle asks of the runner it came from (a `TaskRunner`)."""

    async def get_job(self, job_id: str) -> JobInfo: ...

    async def wait_for(self, job_id: str, timeout: float | None = None) -> JobInfo | None: ...

    async def cancel(self, job_id: str) -> JobState: ...

    def call_sync(self, fn: Callable[P, Awaitable[U]], *args: P.args, **kwargs: P.kwargs) -> U: ...


class Job(Generic[T]):
    """A job that was enqueued. `duplicate` is True when a job already held the dedup key
    and no new job was stored; the handle then points at that existing job."""

    __slots__ = ("duplicate", "id", "runner")

    def __init__(self, runner: JobSource, job_id: str, duplicate: bool = False) -> None:
        self.runner = runner
        self.id = job_id
        self.duplicate = duplicate

    def __repr__(self) -> str:
        return f"Job({self.id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    async def info(self) -> JobInfo:
        """Everything known about the job now."""
        return await self.runner.get_job(self.id)

    async def result(self, timeout: float | None = None) -> T:
        """Wait until the job finishes and return its result.

        Raises `JobFailed` (with the remote error) if it failed or was cancelled, and
        `JobTimeout` if it is not finished within `timeout` seconds (None waits forever).
        """
        info = await self.runner.wait_for(self.id, timeout)
        if info is None:
            raise JobTimeout(f"job {self.id} did not finish within {timeout}s")
        if info.state is JobState.SUCCEEDED:
            return cast(T, info.result)
        raise JobFailed(info.id, info.state.value, info.error)

    async def cancel(self) -> JobState:
        """Cancel the job: see `TaskRunner.cancel`."""
        return await self.runner.cancel(self.id)

    def info_sync(self) -> JobInfo:
        """`info`, from sync code (see `TaskRunner.call_sync`)."""
        return self.runner.call_sync(self.info)

    def result_sync(self, timeout: float | None = None) -> T:
        """`result`, from sync code: blocks until the job finishes (or `timeout`)."""
        return self.runner.call_sync(self.result, timeout)

    def cancel_sync(self) -> JobState:
        """`cancel`, from sync code."""
        return self.runner.call_sync(self.cancel)
