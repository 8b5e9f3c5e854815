"""Prometheus metrics: what each worker does (attempts by outcome, runtimes, rescues, its
slots), and what the whole backend holds, from one exporter reading it on each scrape."""

from __future__ import annotations

import re
import signal
import urllib.request
from pathlib import Path

import anyio
import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from taskrunner import JobState, Limit, TaskRunner, current_job
from taskrunner.telemetry.backend_metrics import BackendMetrics, metrics_app
from taskrunner.telemetry.metrics import WorkerMetrics
from tests.helpers import drain, eventually, free_port, runner_on, sqlite_url
from tests.procs import WorkerProcess


async def test_attempts_runtimes_and_rescues_are_counted() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    runner = runner_on()

    @runner.task(name="m.flaky", retries=1, backoff=0)
    async def flaky() -> None:
        if current_job().attempt == 1:
            raise ValueError("first attempt fails")

    await runner.enqueue_many(flaky.prepare() for _ in range(3))
    lost = await flaky.enqueue()
    await runner.backend.claim(["default"], 1, "dead-worker", 0.01)  # its worker "dies"
    await anyio.sleep(0.05)
    worker = runner.worker(burst=True, reclaim_interval=0.01)
    metrics.attach(worker)
    await worker.run()
    await drain(runner)

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert (
        sample("taskrunner_attempts_total", queue="default", task="m.flaky", outcome="retry") >= 3
    )
    assert (
        sample("taskrunner_attempts_total", queue="default", task="m.flaky", outcome="succeeded")
        >= 3
    )
    assert sample("taskrunner_attempt_seconds_count", queue="default", task="m.flaky") >= 6
    assert sample("taskrunner_lease_rescues_total") >= 1
    assert (await runner.get_job(lost.id)).attempt >= 2


async def test_taskrunner_run_serves_metrics(tmp_path: Path) -> None:
    port = free_port()
    proc = WorkerProcess(
        "tests.apps.burst:runner",
        "--metrics-port",
        str(port),
        log_dir=tmp_path,
        env={"TASKRUNNER_TEST_DIR": str(tmp_path)},
    )
    try:
        await proc.wait_for_output("metrics on http://127.0.0.1")

        async def scraped() -> str:
            def fetch() -> str:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return str(r.read().decode())

            text = await anyio.to_thread.run_sync(fetch)
            return text if 'outcome="succeeded"' in text else ""

        await eventually(scraped, timeout=30)
        text = await scraped()
        assert 'taskrunner_attempts_total{outcome="succeeded",queue="default"' in text
        assert "taskrunner_attempt_seconds_bucket" in text
        assert re.search(r'taskrunner_worker_slots\{worker="[^"]+"\} \d', text)
        assert re.search(r'taskrunner_worker_busy_slots\{worker="[^"]+"\} \d', text)
        # a backend-wide figure is no worker's to export: summed over workers, it would
        # count each queue once per worker
        assert "taskrunner_jobs{" not in text and "taskrunner_queue_paused{" not in text
        proc.signal(signal.SIGTERM)
        assert await proc.wait(30) == 0
    finally:
        proc.kill()


async def test_a_worker_exports_its_slots_and_the_limit_slots_its_jobs_hold() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    runner = runner_on()
    release = anyio.Event()

    @runner.task(name="m.sync", queue="crm", limit=Limit(1, key="customer:{n}"))
    async def sync(n: int) -> None:
        await release.wait()

    @runner.task(name="m.free", queue="crm")
    async def free(n: int) -> None:
        await release.wait()

    await sync.enqueue(1)
    await sync.enqueue(2)
    await free.enqueue(3)
    async with runner.worker(concurrency=5, queues=["crm", "idle"]) as worker:
        metrics.attach(worker)

        def gauge(name: str, **labels: str) -> float | None:
            return registry.get_sample_value(name, {"worker": worker.id, **labels})

        await eventually(lambda: gauge("taskrunner_worker_busy_slots") == 3)
        assert gauge("taskrunner_worker_slots") == 5
        assert gauge("taskrunner_worker_limit_slots_held", queue="crm") == 2
        assert gauge("taskrunner_worker_limit_slots_held", queue="idle") == 0
        release.set()
        await eventually(lambda: gauge("taskrunner_worker_busy_slots") == 0)
        assert gauge("taskrunner_worker_limit_slots_held", queue="crm") == 0


async def test_the_exporter_reads_the_backend_on_each_scrape(
    each_backend_runner: TaskRunner,
) -> None:
    runner = each_backend_runner

    @runner.task(name="m.mail", queue="mail")
    async def mail(n: int) -> None:
        return None

    @runner.task(name="m.bill", queue="bills")
    async def bill(n: int) -> None:
        return None

    release = anyio.Event()

    @runner.task(name="m.sync", queue="crm", limit=Limit(1, key="customer:{n}"))
    async def sync(n: int) -> None:
        await release.wait()

    app = metrics_app(runner)

    async def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://exporter") as client:
            answer = await client.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
        }

    await mail.enqueue(1)
    await mail.enqueue(2)
    await bill.options(delay=3600).enqueue(3)
    await runner.pause("bills")
    first = await scrape()
    assert first["taskrunner_backend_up", ()] == 1
    assert first["taskrunner_jobs", (("queue", "mail"), ("state", "queued"))] == 2
    assert first["taskrunner_jobs", (("queue", "bills"), ("state", "scheduled"))] == 1
    assert first["taskrunner_queue_paused", (("queue", "bills"),)] == 1
    assert first["taskrunner_queue_paused", (("queue", "mail"),)] == 0
    assert first["taskrunner_oldest_queued_age_seconds", (("queue", "mail"),)] >= 0
    assert first["taskrunner_oldest_queued_age_seconds", (("queue", "bills"),)] == 0
    assert first["taskrunner_workers_alive", ()] == 0

    assert first["taskrunner_limit_slots_held", (("queue", "mail"),)] == 0
    await sync.enqueue(1)
    await sync.enqueue(1)  # held back while the first runs

    async def one_running_one_held() -> bool:
        scraped = await scrape()
        crm = (("queue", "crm"),)
        return (
            scraped["taskrunner_jobs_held", crm] == scraped["taskrunner_limit_slots_held", crm] == 1
        )

    async with runner.worker(concurrency=4, queues=["mail", "bills", "crm"]):
        await eventually(lambda: finished_count(runner, "mail", 2))
        await eventually(one_running_one_held)
        during = await scrape()
        release.set()
    assert during["taskrunner_workers_alive", ()] == 1
    assert during["taskrunner_workers_slots", ()] == 4
    assert during["taskrunner_queue_workers", (("queue", "mail"),)] == 1
    assert during["taskrunner_jobs", (("queue", "mail"), ("state", "succeeded"))] == 2
    assert during["taskrunner_jobs", (("queue", "mail"), ("state", "queued"))] == 0


async def finished_count(runner: TaskRunner, queue: str, total: int) -> bool:
    stats = await runner.stats([queue])
    return stats[queue][JobState.SUCCEEDED] == total


async def test_the_exporter_says_when_the_backend_cannot_be_read(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    runner = TaskRunner(sqlite_url(tmp_path / "missing" / "folder"))
    metrics = BackendMetrics(runner, registry)
    assert await metrics.refresh() is False
    assert registry.get_sample_value("taskrunner_backend_up") == 0
    assert registry.get_sample_value("taskrunner_workers_alive") is None  # not shown stale


async def test_the_exporter_takes_only_reads() -> None:
    transport = httpx.ASGITransport(app=metrics_app(runner_on()))
    async with httpx.AsyncClient(transport=transport, base_url="http://exporter") as client:
        answer = await client.post("/metrics")
    assert answer.status_code == 405 and answer.text == "use GET\n"
