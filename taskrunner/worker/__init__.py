"""The worker: claims due jobs, runs them within its concurrency, reports their outcomes.

- `loop`: `Worker` and its loops (claim, heartbeat, flush, reclaim).
- `execution`: one attempt of one job, turned into an `Outcome`.
- `scheduler`: the recurring tasks' ticks.
- `settings`: `WorkerSettings` and the worker's counters.
"""

from taskrunner.worker.loop import Worker
from taskrunner.worker.settings import WorkerSettings

__all__ = ["Worker", "WorkerSettings"]
