"""Prometheus metrics of a worker: attempts by outcome, runtimes, queue depth, rescues."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import anyio
from prometheus_client import CollectorRegistry

from taskrunner import current_job
from taskrunner.telemetry.metrics import WorkerMetrics
from tests.helpers import drain, eventually, free_port, runner_on
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
            return text if 'outcome="succeeded"' in text and "taskrunner_jobs{" in text else ""

        await eventually(scraped, timeout=30)
        text = await scraped()
        assert 'taskrunner_attempts_total{outcome="succeeded",queue="default"' in text
        assert "taskrunner_attempt_seconds_bucket" in text
        assert 'taskrunner_jobs{queue="default",state="scheduled"} 1.0' in text
        proc.signal(signal.SIGTERM)
        assert await proc.wait(30) == 0
    finally:
        proc.kill()
