"""taskrunner: an asyncio background-job runner with memory, Redis and Postgres backends."""

from taskrunner.backend import Backend, JobState
from taskrunner.context import JobContext, State, current_job
from taskrunner.errors import (
    BackendError,
    BackendNotFound,
    ConfigurationError,
    DuplicateTask,
    InvalidName,
    JobError,
    JobFailed,
    JobNotFound,
    JobTimeout,
    PayloadTooLarge,
    SerializationError,
    StrayCancellation,
    TaskrunnerError,
    TaskTimeout,
)
from taskrunner.handle import Job
from taskrunner.job import JobInfo, JobProgress
from taskrunner.retry import Backoff, Retry, fixed
from taskrunner.runner import TaskRunner
from taskrunner.schedules import Schedule, cron, every
from taskrunner.task import PreparedJob, Task
from taskrunner.worker import Worker, WorkerSettings

__all__ = [
    "Backend",
    "BackendError",
    "BackendNotFound",
    "Backoff",
    "ConfigurationError",
    "DuplicateTask",
    "InvalidName",
    "Job",
    "JobContext",
    "JobError",
    "JobFailed",
    "JobInfo",
    "JobNotFound",
    "JobProgress",
    "JobState",
    "JobTimeout",
    "PayloadTooLarge",
    "PreparedJob",
    "Retry",
    "Schedule",
    "SerializationError",
    "State",
    "StrayCancellation",
    "Task",
    "TaskRunner",
    "TaskTimeout",
    "TaskrunnerError",
    "Worker",
    "WorkerSettings",
    "cron",
    "current_job",
    "every",
    "fixed",
]
