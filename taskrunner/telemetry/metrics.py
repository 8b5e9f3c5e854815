"""Prometheus metrics of worker processes (`taskrunner run --metrics-port 9100`).

Needs the `metrics` extra: `pip install "taskrunner-jobs[metrics]"` (prometheus-client).

Every worker process exports what it does itself, so that adding up the series of many
processes counts each thing once: taskrunner_attempts_total{queue,task,outcome},
taskrunner_attempt_seconds{queue,task} (a histogram of runtimes),
taskrunner_lease_rescues_total (jobs it put back after their worker went silent), and, read
from its workers when scraped, taskrunner_worker_slots{worker} (jobs it may run at once),
taskrunner_worker_busy_slots{worker} (jobs it runs now) and
taskrunner_worker_limit_slots_held{worker,queue} (its running jobs that hold a slot of a
limit key). What the whole backend holds (jobs per state, the oldest waiting job, paused
queues, live workers) is no worker's to export: `taskrunner.telemetry.backend_metrics`
reads it from the backend, in one exporter.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from taskrunner.backend import AttemptOutcome, JobRecord
from taskrunner.errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric


class _HasConcurrency(Protocol):
    @property
    def concurrency(self) -> int: ...


class MeteredWorker(Protocol):
    """What metrics need of a worker (a `taskrunner.Worker`): its id, queues, concurrency
    and running jobs, and the observers it calls when an attempt ends and when jobs are
    rescued."""

    on_attempt_end: Callable[[JobRecord, AttemptOutcome, float], None] | None
    on_rescue: Callable[[int], object] | None

    @property
    def id(self) -> str: ...

    @property
    def queues(self) -> tuple[str, ...]: ...

    @property
    def settings(self) -> _HasConcurrency: ...

    def running_jobs(self) -> list[JobRecord]: ...


BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


def prometheus() -> Any:
    """The prometheus_client module; a `ConfigurationError` saying how to install it."""
    try:
        import prometheus_client
    except ImportError:
        raise ConfigurationError(
            "metrics need prometheus-client: pip install 'taskrunner-jobs[metrics]'"
        ) from None
    return prometheus_client


class WorkerSlots:
    """A collector of the slots of the workers attached, read when scraped."""

    def __init__(self) -> None:
        self.workers: list[MeteredWorker] = []

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        slots = GaugeMetricFamily(
            "taskrunner_worker_slots", "Jobs the worker may run at once.", labels=["worker"]
        )
        busy = GaugeMetricFamily(
            "taskrunner_worker_busy_slots", "Jobs the worker runs now.", labels=["worker"]
        )
        held = GaugeMetricFamily(
            "taskrunner_worker_limit_slots_held",
            "Jobs the worker runs now that hold a slot of a limit key, by queue (limit keys "
            "are per-customer values and the like, too many to label by).",
            labels=["worker", "queue"],
        )
        for worker in list(self.workers):
            running = worker.running_jobs()
            slots.add_metric([worker.id], worker.settings.concurrency)
            busy.add_metric([worker.id], len(running))
            limited = Tally(record.queue for record in running if record.limit_key is not None)
            for queue in sorted(set(worker.queues) | set(limited)):
                held.add_metric([worker.id, queue], limited[queue])
        yield from (slots, busy, held)


class WorkerMetrics:
    """Counts what the workers of this process do into a Prometheus registry (default: the
    global one); `attach` each worker."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        client = prometheus()
        self.registry = registry if registry is not None else client.REGISTRY
        self.attempts = client.Counter(
            "taskrunner_attempts",
            "Job attempts that ended, by outcome.",
            ["queue", "task", "outcome"],
            registry=self.registry,
        )
        self.runtime = client.Histogram(
            "taskrunner_attempt_seconds",
            "How long attempts ran.",
            ["queue", "task"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.rescues = client.Counter(
            "taskrunner_lease_rescues",
            "Jobs put back because their worker stopped renewing its lease.",
            registry=self.registry,
        )
        self.slots = WorkerSlots()
        self.registry.register(self.slots)

    def attach(self, worker: MeteredWorker) -> None:
        """Count `worker`'s attempts and rescues, and export its slots."""
        worker.on_attempt_end = self.attempt_ended
        worker.on_rescue = self.rescues.inc
        self.slots.workers.append(worker)

    def attempt_ended(self, record: JobRecord, outcome: AttemptOutcome, seconds: float) -> None:
        self.attempts.labels(record.queue, record.task, outcome.value).inc()
        self.runtime.labels(record.queue, record.task).observe(seconds)


def serve(metrics: WorkerMetrics, port: int, host: str) -> None:
    """Serve /metrics over HTTP from a background thread."""
    prometheus().start_http_server(port, addr=host, registry=metrics.registry)
