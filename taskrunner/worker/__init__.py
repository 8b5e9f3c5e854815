"""The worker: claims due jobs, runs them within its concurrency, reports their outcomes.

- `loop`: `Worker` and its loops (claim, heartbeat, flush, reclaim).
- `host`: `WorkerHost`, what the worker asks of its runner.
- `execution`: one attempt of one job, turned into an `Outcome`; `failures` and `threads`
  its helpers (the errors recorded, the threads `def` tasks run in).
- `outbox`: outcomes held until the backend has them.
- `heartbeat`: lease renewal, cancel signals, the registry of workers, reclaim.
- `scheduler`: the recurring tasks' ticks.
- `settings`: `WorkerSettings` and the worker's counters.

Retry, backoff and TTL decisions are `taskrunner.policy`'s, a module below the worker.
"""

from taskrunner.worker.loop import Worker
from taskrunner.worker.settings import WorkerSettings

__all__ = ["Worker", "WorkerSettings"]
