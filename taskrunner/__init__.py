"""taskrunner: an asyncio background-job runner with memory, Redis and Postgres backends."""

from taskrunner.backend import AttemptOutcome, Backend, JobState, WorkerRecord
from taskrunner.batch import Batch, BatchInfo, OpenBatch
from taskrunner.context import JobContext, State, current_job
from taskrunner.errors import (
    BackendError,
    BackendNotFound,
    BatchNotOpen,
    ConfigurationError,
    DependencyNotFound,
    DuplicateTask,
    InvalidArguments,
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
from taskrunner.job import AttemptInfo, Hold, HoldKind, JobInfo, JobProgress
from taskrunner.limits import Limit, Rate
from taskrunner.queries import JobPage
from taskrunner.retry import Backoff, Retry, Snooze, fixed
from taskrunner.runner import TaskRunner
from taskrunner.schedules import Schedule, cron, every
from taskrunner.stats import QueueStats, Stats
from taskrunner.task import AsyncTask, PreparedJob, SyncTask, Task
from taskrunner.worker import Worker, WorkerSettings

__version__ = "0.1.0"  # the distribution's version (pyproject.toml), shown by `--version`

__all__ = [
    "AsyncTask",
    "AttemptInfo",
    "AttemptOutcome",
    "Backend",
    "BackendError",
    "BackendNotFound",
    "Backoff",
    "Batch",
    "BatchInfo",
    "BatchNotOpen",
    "ConfigurationError",
    "DependencyNotFound",
    "DuplicateTask",
    "Hold",
    "HoldKind",
    "InvalidArguments",
    "InvalidName",
    "Job",
    "JobContext",
    "JobError",
    "JobFailed",
    "JobInfo",
    "JobNotFound",
    "JobPage",
    "JobProgress",
    "JobState",
    "JobTimeout",
    "Limit",
    "OpenBatch",
    "PayloadTooLarge",
    "PreparedJob",
    "QueueStats",
    "Rate",
    "Retry",
    "Schedule",
    "SerializationError",
    "Snooze",
    "State",
    "Stats",
    "StrayCancellation",
    "SyncTask",
    "Task",
    "TaskRunner",
    "TaskTimeout",
    "TaskrunnerError",
    "Worker",
    "WorkerRecord",
    "WorkerSettings",
    "cron",
    "current_job",
    "every",
    "fixed",
]
