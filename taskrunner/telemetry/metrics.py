"""Prometheus metrics for a worker (`taskrunner run --metrics-port 9100`).

Needs the `metrics` extra: `pip install "taskrunner-jobs[metrics]"` (prometheus-client).
Metrics: taskrunner_attempts_total{queue,task,outcome}, taskrunner_attempt_seconds{queue,
task} (a histogram of runtimes), taskrunner_jobs{queue,state} (jobs stored, refreshed from
the backend), taskrunner_queue_paused{queue} (1 while the queue is paused, refreshed too)
and taskrunner_lease_rescues_total (jobs put back after their worker went silent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from taskrunner.backend import AttemptOutcome, Backend, JobRecord, QueuePausing
from taskrunner.errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


class _HasBackend(Protocol):
    @property
    def backend(self) -> Backend: ...


class MeteredWorker(Protocol):
    """What metrics need of a worker (a `taskrunner.Worker`): its queues, its runner's
    backend, and the observers it calls when an attempt ends and when jobs are rescued."""

    on_attempt_end: Callable[[JobRecord, AttemptOutcome, float], None] | None
    on_rescue: Callable[[int], object] | None

    @property
    def queues(self) -> tuple[str, ...]: ...

    @property
    def runner(self) -> _HasBackend: ...


log = logging.getLogger("taskrunner.metrics")
BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class WorkerMetrics:
    """Counts what a worker does into a Prometheus registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        try:
            from prometheus_client import REGISTRY, Counter, Gauge, Histogram
        except ImportError:
            raise ConfigurationError(
                "metrics need prometheus-client: pip install 'taskrunner-jobs[metrics]'"
            ) from None
        self.registry = registry if registry is not None else REGISTRY
        self.attempts = Counter(
            "taskrunner_attempts",
            "Job attempts that ended, by outcome.",
            ["queue", "task", "outcome"],
            registry=self.registry,
        )
        self.runtime = Histogram(
            "taskrunner_attempt_seconds",
            "How long attempts ran.",
            ["queue", "task"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.jobs = Gauge(
            "taskrunner_jobs",
            "Jobs stored, by queue and state.",
            ["queue", "state"],
            registry=self.registry,
        )
        self.paused = Gauge(
            "taskrunner_queue_paused",
            "1 while the queue is paused (no worker takes its jobs), else 0.",
            ["queue"],
            registry=self.registry,
        )
        self.rescues = Counter(
            "taskrunner_lease_rescues",
            "Jobs put back because their worker stopped renewing its lease.",
            registry=self.registry,
        )

    def attach(self, worker: MeteredWorker) -> None:
        worker.on_attempt_end = self.attempt_ended
        worker.on_rescue = self.rescues.inc

    def attempt_ended(self, record: JobRecord, outcome: AttemptOutcome, seconds: float) -> None:
        self.attempts.labels(record.queue, record.task, outcome.value).inc()
        self.runtime.labels(record.queue, record.task).observe(seconds)

    async def watch_queues(self, worker: MeteredWorker, every: float = 10.0) -> None:
        """Refresh the per-queue job counts from the backend until cancelled."""
        while True:
            try:
                counts = await worker.runner.backend.stats(worker.queues)
                for queue, by_state in counts.items():
                    for state, count in by_state.items():
                        self.jobs.labels(queue, state.value).set(count)
                backend = worker.runner.backend
                if isinstance(backend, QueuePausing):
                    paused = set(await backend.paused())
                    for queue in worker.queues:
                        self.paused.labels(queue).set(1 if queue in paused else 0)
            except Exception as exc:
                log.debug("metrics: could not read queue counts (%s)", exc)
            await asyncio.sleep(every)


def serve(metrics: WorkerMetrics, port: int, host: str) -> None:
    """Serve /metrics over HTTP from a background thread."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=metrics.registry)
