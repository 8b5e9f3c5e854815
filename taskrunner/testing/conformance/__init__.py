"""Every backend-visible behaviour, as tests any backend can run (see `taskrunner.testing`).

The tests are grouped by area, one module each, and `BackendConformance` gathers them:

- `enqueue`: enqueue and get, dedup keys and the keys of expiring records.
- `claim`: claim order, due times and waits, leases, heartbeats, reclaim and fencing.
- `outcomes`: finish, retry outcomes and releases, retention, waiting for results.
- `cancel`: cancel, cancel signals and manual retry.
- `stats`: counts by queue and state, purge.
- `windows`: dedup windows (`NewJob.key_ttl`).
- `limits`: per-key concurrency limits (`NewJob.limit_key`).
- `rates`: rate limits (`NewJob.rate_key`).
- `batches`: batches with callbacks, for a backend that implements `Batches`.
- `dependencies`: jobs waiting for others, for a backend that implements `Dependencies`.
- `registry`: the task registry, for a backend that implements `TaskRegistry`.
- `pause`: pausing and resuming queues, for a backend that implements `QueuePausing`.
- `deletion`: deleting single jobs, for a backend that implements `JobDeletion`.
- `inspection`: `InspectionConformance`, for a backend that implements `Inspection`.
- `helpers`: the time constants and the small steps the tests share (`new_job`, ...).

Times here are short real delays (a few hundred milliseconds): a backend judges time on its
own clock, which a test cannot fake for Redis or Postgres.
"""

from taskrunner.testing.conformance.batches import BatchTests
from taskrunner.testing.conformance.cancel import CancelRetryTests
from taskrunner.testing.conformance.claim import ClaimTests
from taskrunner.testing.conformance.deletion import DeletionTests
from taskrunner.testing.conformance.dependencies import DependencyTests
from taskrunner.testing.conformance.enqueue import EnqueueTests
from taskrunner.testing.conformance.inspection import InspectionConformance
from taskrunner.testing.conformance.limits import LimitTests
from taskrunner.testing.conformance.outcomes import OutcomeTests
from taskrunner.testing.conformance.pause import PauseTests
from taskrunner.testing.conformance.rates import RateTests
from taskrunner.testing.conformance.registry import RegistryTests
from taskrunner.testing.conformance.stats import StatsTests
from taskrunner.testing.conformance.windows import WindowTests


class BackendConformance(
    EnqueueTests,
    ClaimTests,
    OutcomeTests,
    CancelRetryTests,
    StatsTests,
    PauseTests,
    DeletionTests,
    WindowTests,
    LimitTests,
    RateTests,
    BatchTests,
    DependencyTests,
    RegistryTests,
):
    """Subclass with a `backend` fixture yielding a connected, empty backend. Where separate
    instances share one store (a server), override `peer` to yield a second one."""


__all__ = ["BackendConformance", "InspectionConformance"]
