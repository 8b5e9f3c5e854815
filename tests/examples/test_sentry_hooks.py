"""examples/sentry_hooks.py: a job that failed for good reaches Sentry as an event carrying
the exception and the job's tags, through a fake transport (nothing leaves the machine)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, ClassVar

import pytest
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from taskrunner.backend import NewJob, new_job_id
from tests.helpers import drain

DSN = "https://public@sentry.invalid/1"


class FakeTransport(Transport):
    """Keeps the events the SDK would send."""

    events: ClassVar[list[dict[str, Any]]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            FakeTransport.events.append(dict(event))


@pytest.fixture
def example() -> ModuleType:
    FakeTransport.events = []
    import examples.sentry_hooks

    return importlib.reload(examples.sentry_hooks)  # a runner of its own, on memory://


async def test_a_failed_job_is_reported_with_its_tags_and_retries(example: ModuleType) -> None:
    with example.sentry(DSN, transport=FakeTransport, default_integrations=False):
        job = await example.charge.enqueue(42)
        await drain(example.runner)
    (event,) = FakeTransport.events
    assert event["tags"] == {
        "taskrunner.job_id": job.id,
        "taskrunner.task": "examples.sentry_hooks.charge",
        "taskrunner.queue": "default",
        "taskrunner.attempt": "2/2",
        "taskrunner.outcome": "failure",
    }
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "ConnectionError"
    assert exception["value"] == "payment provider unreachable (order 42, attempt 2)"
    crumbs = [c for c in event["breadcrumbs"]["values"] if c.get("category") == "taskrunner"]
    assert [c["message"] for c in crumbs] == [f"job {job.id} attempt 1 failed; retry in 0s"]


async def test_a_job_that_cannot_run_is_reported_as_a_message(example: ModuleType) -> None:
    with example.sentry(DSN, transport=FakeTransport, default_integrations=False):
        job_id = new_job_id()
        await example.runner.backend.enqueue([NewJob(job_id, "gone.task", "default", b"{}")])
        await drain(example.runner)
    (event,) = FakeTransport.events
    assert event["level"] == "error"
    assert event["message"].startswith(f"job {job_id} (gone.task) failed: UnknownTask: ")
    assert event["tags"]["taskrunner.job_id"] == job_id


async def test_without_a_dsn_nothing_is_sent(example: ModuleType) -> None:
    with example.sentry(None, transport=FakeTransport, default_integrations=False):
        await example.charge.enqueue(7)
        await drain(example.runner)
    assert FakeTransport.events == []
