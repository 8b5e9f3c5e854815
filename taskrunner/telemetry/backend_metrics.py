"""Prometheus gauges of what the whole backend holds, read from it when scraped.

Worker processes export only what they do themselves (`taskrunner.telemetry.metrics`); the
backend-wide figures come from one exporter, so that no sum over processes counts a queue
twice: `metrics_app(runner)`, an ASGI app to mount in the web app (`app.mount("/metrics",
metrics_app(runner))`) or to serve alone with uvicorn. Each scrape reads `runner.stats()`
once (the counts, the activity, the paused queues and the worker registry):

- taskrunner_jobs{queue,state}: jobs stored
- taskrunner_oldest_queued_age_seconds{queue}: how long the longest-waiting due job has
  waited since it fell due (0 when none waits; absent on a backend without activity)
- taskrunner_queue_paused{queue}: 1 while the queue is paused
- taskrunner_queue_workers{queue}: live workers taking jobs from the queue
- taskrunner_workers_alive, taskrunner_workers_slots, taskrunner_workers_busy_slots: the
  live workers, the jobs they may run at once and those they ran at their last heartbeat
- taskrunner_limit_slots_held{queue}: running jobs holding a slot of a limit key, and
  taskrunner_jobs_held{queue}: queued jobs held back for their limit or rate key (on a
  backend that is `FlowInspection`; per queue, as limit keys are too many to label by)
- taskrunner_backend_up: 1 if the last read of the backend succeeded, else 0 (the other
  gauges are then left out rather than shown stale)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from taskrunner.backend import Backend, FlowCounts, FlowInspection
from taskrunner.stats import Stats
from taskrunner.telemetry.metrics import prometheus

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

log = logging.getLogger("taskrunner.metrics")
WINDOW = 60.0  # the activity window read (its figures are not exported: only the oldest job)

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class StatsSource(Protocol):
    """What the exporter reads (a `TaskRunner`)."""

    async def stats(self, queues: Sequence[str] | None = None, window: float = ...) -> Stats: ...

    async def connected(self) -> Backend: ...


def families(stats: Stats, flow: dict[str, FlowCounts] | None) -> list[Metric]:
    """The backend-wide gauges of `stats`, and of `flow` (None: not counted)."""
    from prometheus_client.core import GaugeMetricFamily

    def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=list(labels))

    jobs = gauge("taskrunner_jobs", "Jobs stored, by queue and state.", ["queue", "state"])
    oldest = gauge(
        "taskrunner_oldest_queued_age_seconds",
        "Seconds the longest-waiting due job of the queue has waited (0: none waits).",
        ["queue"],
    )
    paused = gauge("taskrunner_queue_paused", "1 while the queue is paused, else 0.", ["queue"])
    takers = gauge("taskrunner_queue_workers", "Live workers taking the queue.", ["queue"])
    for queue, queue_stats in sorted(stats.items()):
        for state, count in queue_stats.items():
            jobs.add_metric([queue, state.value], count)
        if queue_stats.span is not None:  # the backend records activity
            oldest.add_metric([queue], queue_stats.oldest_queued_age or 0.0)
        paused.add_metric([queue], 1 if queue_stats.paused else 0)
        takers.add_metric([queue], sum(queue in w.queues for w in stats.workers))
    workers = stats.workers
    alive = gauge("taskrunner_workers_alive", "Workers alive (in the backend's registry).")
    alive.add_metric([], len(workers))
    slots = gauge("taskrunner_workers_slots", "Jobs the live workers may run at once.")
    slots.add_metric([], sum(w.concurrency for w in workers))
    busy = gauge(
        "taskrunner_workers_busy_slots", "Jobs the live workers ran at their last heartbeat."
    )
    busy.add_metric([], sum(w.running for w in workers))
    found: list[Metric] = [jobs, oldest, paused, takers, alive, slots, busy]
    if flow is not None:
        limited = gauge(
            "taskrunner_limit_slots_held",
            "Running jobs that hold a slot of a limit key, by queue.",
            ["queue"],
        )
        held = gauge(
            "taskrunner_jobs_held",
            "Queued jobs held back for their limit or rate key, by queue.",
            ["queue"],
        )
        for queue, counts in sorted(flow.items()):
            limited.add_metric([queue], counts.limit_running)
            held.add_metric([queue], counts.held)
        found += [limited, held]
    return found


class BackendMetrics:
    """The backend-wide gauges, in a registry of their own unless one is given; `refresh`
    reads the backend, scrapes show what the last refresh read."""

    def __init__(
        self,
        source: StatsSource,
        registry: CollectorRegistry | None = None,
        queues: Sequence[str] | None = None,
    ) -> None:
        client = prometheus()
        self.source = source
        self.queues = queues
        self.registry = registry if registry is not None else client.CollectorRegistry()
        self.up = client.Gauge(
            "taskrunner_backend_up",
            "1 if the exporter's last read of the backend succeeded, else 0.",
            registry=self.registry,
        )
        self._families: list[Metric] = []
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        yield from self._families

    async def refresh(self) -> bool:
        """Read the backend now; False (and no backend-wide gauges) if it failed."""
        try:
            stats = await self.source.stats(self.queues, window=WINDOW)
            backend = await self.source.connected()
            flow = None
            if isinstance(backend, FlowInspection):
                flow = await backend.flow_counts(list(stats))
        except Exception as exc:
            log.warning("metrics: could not read the backend (%s: %s)", type(exc).__name__, exc)
            self._families = []
            self.up.set(0)
            return False
        self._families = families(stats, flow)
        self.up.set(1)
        return True


def metrics_app(
    source: StatsSource,
    *,
    registry: CollectorRegistry | None = None,
    queues: Sequence[str] | None = None,
) -> ASGIApp:
    """An ASGI app answering every GET with the backend-wide gauges, read from the backend
    at each scrape (plus whatever else `registry` holds). `queues` limits the queues read."""
    metrics = BackendMetrics(source, registry, queues)
    client = prometheus()

    async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"use GET\n", "text/plain; charset=utf-8")
            return
        await metrics.refresh()
        body = client.generate_latest(metrics.registry)
        await _answer(send, 200, body, client.CONTENT_TYPE_LATEST)

    return app


async def _answer(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
