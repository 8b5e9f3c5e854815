"""The error tree: every error taskrunner raises derives from `TaskrunnerError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskrunner.job import JobError


class TaskrunnerError(Exception):
    """Base class of every error taskrunner raises."""


class ConfigurationError(TaskrunnerError):
    """A setting, option or decorator argument is invalid."""


class BackendNotFound(ConfigurationError):
    """No backend is registered for a URL's scheme."""


class InvalidName(ConfigurationError):
    """A task, queue or dedup key name is not allowed."""


class DuplicateTask(ConfigurationError):
    """Two tasks were registered under one name."""


class SerializationError(TaskrunnerError):
    """Arguments or a result cannot be carried as JSON."""


class PayloadTooLarge(SerializationError):
    """An encoded payload is over the configured size limit."""


class JobNotFound(TaskrunnerError):
    """No job with that id is stored (never enqueued, or its record expired)."""


class JobFailed(TaskrunnerError):
    """The job ended without a result; `error` says why."""

    def __init__(self, job_id: str, state: str, error: JobError | None) -> None:
        self.job_id = job_id
        self.state = state
        self.error = error
        detail = f"{error.type}: {error.message}" if error is not None else f"it was {state}"
        super().__init__(f"job {job_id} {state}: {detail}")


class JobTimeout(TaskrunnerError, TimeoutError):
    """Waiting for a job's result took longer than the caller allowed."""


class BackendError(TaskrunnerError):
    """The backend could not carry out an operation (connection lost, server error)."""
