"""OpenTelemetry: a job's attempt runs in a span of the trace it was enqueued in."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from taskrunner import current_job
from taskrunner._serialization import decode_call
from taskrunner.job import MESSAGE_LIMIT
from taskrunner.worker.execution import TRACEBACK_LIMIT
from tests.helpers import drain, runner_on

EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(_provider)


@pytest.fixture(autouse=True)
def fresh_spans() -> None:
    EXPORTER.clear()


async def test_the_attempt_continues_the_trace_of_the_request() -> None:
    runner = runner_on()

    @runner.task(name="t.resize", retries=1, backoff=0)
    async def resize(image: str) -> str:
        if current_job().attempt == 1:
            raise OSError("disk full")
        return image

    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("POST /images") as request:
        job = await resize.enqueue("cat.png")
    await drain(runner)
    assert await job.result(timeout=1) == "cat.png"

    spans = {
        (s.name, s.attributes.get("taskrunner.attempt") if s.attributes else None): s
        for s in EXPORTER.get_finished_spans()
    }
    trace_id = request.get_span_context().trace_id
    enqueue = spans[("enqueue t.resize", None)]
    assert enqueue.kind is SpanKind.PRODUCER and enqueue.context.trace_id == trace_id
    first, second = spans[("run t.resize", 1)], spans[("run t.resize", 2)]
    for run in (first, second):
        assert run.kind is SpanKind.CONSUMER
        assert run.context.trace_id == trace_id  # one trace from request to execution
        assert run.parent is not None
        assert run.parent.span_id == request.get_span_context().span_id
        assert run.attributes is not None and run.attributes["taskrunner.job_id"] == job.id
    assert first.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in first.events)
    assert second.status.status_code is not StatusCode.ERROR


async def test_a_huge_exception_message_is_cut_in_the_span() -> None:
    runner = runner_on()

    @runner.task(name="t.load", retries=0)
    async def load() -> None:
        raise ValueError("row 1 is broken: " + "x" * 5_000_000)

    with trace.get_tracer("tests").start_as_current_span("POST /loads"):
        await load.enqueue()
    await drain(runner)
    (run,) = [s for s in EXPORTER.get_finished_spans() if s.name == "run t.load"]
    assert run.status.description is not None
    assert len(run.status.description) <= MESSAGE_LIMIT + 100
    assert "of 5000017 characters cut" in run.status.description
    (event,) = [e for e in run.events if e.name == "exception"]
    assert event.attributes is not None
    assert len(str(event.attributes["exception.message"])) <= MESSAGE_LIMIT
    assert len(str(event.attributes["exception.stacktrace"])) <= TRACEBACK_LIMIT


async def test_without_a_trace_nothing_is_added() -> None:
    runner = runner_on()

    @runner.task(name="t.plain")
    async def plain() -> None:
        return None

    prepared = plain.prepare()
    assert decode_call(prepared.new.payload)[2] == {}  # no meta without an active span
    await runner.enqueue_many([prepared])
    await drain(runner)
    assert EXPORTER.get_finished_spans() == ()


async def test_a_snoozed_attempt_is_no_failure_in_its_span() -> None:
    from taskrunner import Snooze

    runner = runner_on()

    @runner.task(name="t.poll", retries=0)
    async def poll() -> str:
        if current_job().attempt == 1:
            raise Snooze(0)
        return "ready"

    with trace.get_tracer("tests").start_as_current_span("POST /polls"):
        job = await poll.enqueue()
    await drain(runner)
    assert await job.result(timeout=1) == "ready"
    (snoozed,) = [
        s
        for s in EXPORTER.get_finished_spans()
        if s.attributes and s.attributes.get("taskrunner.attempt") == 1
    ]
    assert snoozed.status.status_code is not StatusCode.ERROR
    assert not any(event.name == "exception" for event in snoozed.events)
    assert snoozed.attributes is not None and snoozed.attributes["taskrunner.snoozed_for"] == 0
