"""The backend contract, for backend authors: the protocols a backend implements, the records
that cross the boundary, how backends are found by URL scheme, and the small helpers every
backend uses. A backend imports this package and `taskrunner.errors`, nothing else of
taskrunner; this package imports nothing of taskrunner above it.

- `protocol`: `Backend`, the batch-first core of atomic primitives, and the optional
  abilities, each a protocol of its own (`CancelSignals`, `ClaimingWait`,
  `TransactionalEnqueue`, `Migrations`, `QueuePausing`, `JobDeletion`, `HasUrl`), which the
  core checks with isinstance.
- `records`: `NewJob`, `Outcome`, `Beat`, `LeaseStatus`, `JobRecord`, `JobState`, ...
- `inspection`: `Inspection`, what a backend can tell about past and present work, and
  `FlowInspection`, the jobs flow control holds now (for metrics).
- `batches`: `Batches`, batches of jobs with callbacks fired exactly once.
- `dependencies`: `Dependencies`, jobs that wait for others (`NewJob.after`), and the
  error a failed dependency leaves on them (`dependency_error`).
- `registry`: `TaskRegistry`, the specs of the tasks workers run, for enqueues without the
  tasks' code.
- `plugins`: backends registered under the `taskrunner.backends` entry-point group, and the
  URL helpers every backend uses (`check_url`, `redact`, `parse_flag`).
- `ids`: job ids, and the id bounds of a time range (`id_floor`, `CLOCK_MARGIN`).
- `fanout`: handing signals to every listener in a process.
- `waiting`: `within`, a wait with a timeout that never loses a cancel.
- `faults`: the crash points (`TASKRUNNER_CRASH_AT`) that the chaos tests arm, the
  worker's and the backends' own.
"""

from taskrunner.backend.batches import Batches
from taskrunner.backend.dependencies import DEPENDENCY_FAILED, Dependencies, dependency_error
from taskrunner.backend.fanout import Fanout, Inbox
from taskrunner.backend.ids import CLOCK_MARGIN, id_floor, new_job_id
from taskrunner.backend.inspection import (
    FlowCounts,
    FlowInspection,
    Inspection,
    JobFilter,
    QueueActivity,
    WorkerRecord,
)
from taskrunner.backend.plugins import check_url, load_backend, parse_flag, redact, scheme_of
from taskrunner.backend.protocol import (
    Backend,
    CancelSignals,
    ClaimingWait,
    ConcurrentEnqueues,
    HasUrl,
    JobDeletion,
    Migrations,
    QueuePausing,
    TransactionalEnqueue,
    enqueue_lanes,
    enqueuer,
)
from taskrunner.backend.records import (
    ATTEMPT_OUTCOMES,
    FINISHED_STATES,
    AttemptOutcome,
    AttemptRecord,
    BatchRecord,
    Beat,
    Held,
    JobRecord,
    JobState,
    LeaseStatus,
    NewBatch,
    NewJob,
    Outcome,
    OutcomeKind,
)
from taskrunner.backend.registry import TaskRegistry
from taskrunner.backend.waiting import within

__all__ = [
    "ATTEMPT_OUTCOMES",
    "CLOCK_MARGIN",
    "DEPENDENCY_FAILED",
    "FINISHED_STATES",
    "AttemptOutcome",
    "AttemptRecord",
    "Backend",
    "BatchRecord",
    "Batches",
    "Beat",
    "CancelSignals",
    "ClaimingWait",
    "ConcurrentEnqueues",
    "Dependencies",
    "Fanout",
    "FlowCounts",
    "FlowInspection",
    "HasUrl",
    "Held",
    "Inbox",
    "Inspection",
    "JobDeletion",
    "JobFilter",
    "JobRecord",
    "JobState",
    "LeaseStatus",
    "Migrations",
    "NewBatch",
    "NewJob",
    "Outcome",
    "OutcomeKind",
    "QueueActivity",
    "QueuePausing",
    "TaskRegistry",
    "TransactionalEnqueue",
    "WorkerRecord",
    "check_url",
    "dependency_error",
    "enqueue_lanes",
    "enqueuer",
    "id_floor",
    "load_backend",
    "new_job_id",
    "parse_flag",
    "redact",
    "scheme_of",
    "within",
]
