"""What a running task can learn about itself: `current_job()`, and shared state from hooks."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from taskrunner.backend import JobRecord
from taskrunner.dependencies import Fetch, results_of
from taskrunner.errors import TaskrunnerError
from taskrunner.job import MESSAGE_LIMIT, JobProgress, cut


class State(SimpleNamespace):
    """Attributes that startup hooks set for tasks to share (a DB pool, an HTTP client)."""


@dataclass(slots=True, repr=False)
class JobContext:
    """The job and attempt a task is running for. Read it with `current_job()`."""

    record: JobRecord = field(repr=False)
    state: State = field(repr=False)
    progress: JobProgress | None = field(default=None, repr=False)
    progress_reported: bool = field(default=False, repr=False)
    notify: Callable[[], None] | None = field(default=None, repr=False)
    callback_of: str | None = field(default=None, repr=False)  # the batch, for a callback
    fetch: Fetch | None = field(default=None, repr=False)  # reads jobs (the backend's get)

    def __repr__(self) -> str:
        return f"JobContext(id={self.id!r}, task={self.task!r}, attempt={self.attempt})"

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def queue(self) -> str:
        return self.record.queue

    @property
    def attempt(self) -> int:
        """This attempt's number: 1 for the first run."""
        return self.record.attempt

    @property
    def max_attempts(self) -> int:
        return self.record.max_attempts

    @property
    def batch_id(self) -> str | None:
        """The id of the batch the job is a member of, or whose callback it is
        (`runner.get_batch(id)` tells more)."""
        return self.record.batch_id or self.callback_of

    @property
    def after(self) -> tuple[str, ...]:
        """The ids of the jobs this one waited on (`.options(after=...)`), in order."""
        return self.record.after

    async def dependency_results(self) -> dict[str, Any]:
        """The results of the jobs this one waited on, by id, in the order given to
        `after=`. With `run_anyway=True`, those that did not succeed are left out. Raises
        `JobNotFound` if one's record is gone (kept `result_ttl` after it ended)."""
        if not self.record.after:
            return {}
        if self.fetch is None:
            raise TaskrunnerError("this job context cannot read other jobs")
        return await results_of(self.fetch, self.record.after)

    @property
    def key(self) -> str | None:
        """The job's dedup key, if it was enqueued with one."""
        return self.record.key

    @property
    def enqueued_at(self) -> datetime:
        return datetime.fromtimestamp(self.record.enqueued_at, UTC)

    @property
    def retries_left(self) -> int:
        """How many more attempts follow if this one fails."""
        return max(self.max_attempts - self.attempt, 0)

    def report_progress(
        self, done: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Record how far the task got; it is stored with the job by a heartbeat that the
        report asks for at once (from any thread). A `message` over `MESSAGE_LIMIT`
        characters is cut."""
        if message is not None:
            message = cut(message, MESSAGE_LIMIT)
        self.progress = JobProgress(float(done), None if total is None else float(total), message)
        self.progress_reported = True
        if self.notify is not None:
            self.notify()


_current: ContextVar[JobContext] = ContextVar("taskrunner_current_job")


def current_job() -> JobContext:
    """The job the calling task is running for. Raises outside a task run by a worker."""
    try:
        return _current.get()
    except LookupError:
        raise TaskrunnerError(
            "current_job() is only available inside a task run by a worker; "
            "calling the task object directly runs the function without a job"
        ) from None
