"""The error tree: every error taskrunner raises derives from `TaskrunnerError`.

    TaskrunnerError
    ├── ConfigurationError        a setting, option or argument is invalid
    │   ├── BackendNotFound       no backend for a URL's scheme
    │   ├── InvalidName           a task, queue or dedup key name is not allowed
    │   ├── InvalidArguments (TypeError)  a call's arguments do not fit the task
    │   └── DuplicateTask         two tasks under one name
    ├── SerializationError        arguments or a result JSON cannot carry
    │   └── PayloadTooLarge       an encoded payload over the size limit
    ├── JobNotFound               no job with that id
    │   └── DependencyNotFound    a job given to `after=` is not stored
    ├── BatchNotOpen              no open batch with that id to add a member to
    ├── JobFailed                 the job ended without a result (`.error` says why)
    ├── JobTimeout (TimeoutError) waiting for a job took longer than allowed
    ├── BackendError              the backend could not carry out an operation
    ├── TaskTimeout (TimeoutError)  an attempt ran past its timeout (in the job's error)
    ├── StrayCancellation         a task raised CancelledError the worker did not cause
    └── DrainLimitExceeded        a test's drain ran more attempts than its limit
                                  (defined in `taskrunner.testing`, with the helpers)

`JobError` is no exception: it is the record of one, kept with a failed attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from taskrunner._json import compact


class TaskrunnerError(Exception):
    """Base class of every error taskrunner raises."""


class ConfigurationError(TaskrunnerError):
    """A setting, option or decorator argument is invalid."""


class BackendNotFound(ConfigurationError):
    """No backend is registered for a URL's scheme."""


class InvalidName(ConfigurationError):
    """A task, queue or dedup key name is not allowed."""


class InvalidArguments(ConfigurationError, TypeError):
    """A call's arguments do not fit the task (its signature, or what its keys read)."""


class DuplicateTask(ConfigurationError):
    """Two tasks were registered under one name."""


class SerializationError(TaskrunnerError):
    """Arguments or a result cannot be carried as JSON."""


class PayloadTooLarge(SerializationError):
    """An encoded payload is over the configured size limit."""


class JobNotFound(TaskrunnerError):
    """No job with that id is stored (never enqueued, or its record expired)."""


class DependencyNotFound(JobNotFound):
    """A job given to `after=` is not stored (never enqueued, purged, or its record's
    retention ended); nothing of that enqueue was stored. `job_id` names it."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"job {job_id} given to after= is not stored (never enqueued, purged, or its "
            "record expired): nothing was enqueued; wait on jobs that are stored"
        )


class BatchNotOpen(TaskrunnerError):
    """A job was enqueued into a batch that is closed, expired or was never opened."""


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


class TaskTimeout(TaskrunnerError, TimeoutError):
    """An attempt ran longer than its task's `timeout`."""


class StrayCancellation(TaskrunnerError):
    """A task raised `CancelledError` although the worker did not cancel it (most often a
    cancelled inner operation whose `CancelledError` escaped the task). Its attempt fails
    and is retried like any exception; the `CancelledError` is its `__cause__`."""


@dataclass(frozen=True, slots=True)
class JobError:
    """Why an attempt failed: the exception's type, message and formatted traceback. Not an
    exception itself: the record of one, kept with the job."""

    type: str
    message: str
    traceback: str = ""

    def encode(self) -> bytes:
        return compact(
            orjson.dumps({"type": self.type, "message": self.message, "traceback": self.traceback})
        )

    @classmethod
    def decode(cls, raw: bytes) -> JobError:
        try:
            data = orjson.loads(raw)
            return cls(str(data["type"]), str(data["message"]), str(data.get("traceback", "")))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return cls("UndecodableError", raw.decode("utf-8", "replace"))
