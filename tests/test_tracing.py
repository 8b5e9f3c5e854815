"""OpenTelemetry: a job's attempt runs in a span of the trace it was enqueued in."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import TextMapPropagator, default_getter, default_setter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from taskrunner import current_job, every
from taskrunner._serialization import decode_call
from taskrunner.job import MESSAGE_LIMIT
from taskrunner.telemetry import tracing
from taskrunner.worker.execution import TRACEBACK_LIMIT
from taskrunner.worker.scheduler import tick_job
from tests.helpers import drain, runner_on

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()  # not the process's global one: other tests' jobs make no spans
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
TRACER = PROVIDER.get_tracer("tests")


@pytest.fixture(autouse=True)
def traced(monkeypatch: pytest.MonkeyPatch) -> None:
    """taskrunner's spans go to this module's provider during each test, as they would to
    the global one an app sets."""
    EXPORTER.clear()
    monkeypatch.setattr(tracing, "_tracer", PROVIDER.get_tracer("taskrunner"))
    monkeypatch.setattr(tracing, "_configured", True)


def runs_of(task: str) -> list[ReadableSpan]:
    return [s for s in EXPORTER.get_finished_spans() if s.name == f"run {task}"]


async def test_the_attempt_continues_the_trace_of_the_request() -> None:
    runner = runner_on()

    @runner.task(name="t.resize", retries=1, backoff=0)
    async def resize(image: str) -> str:
        if current_job().attempt == 1:
            raise OSError("disk full")
        return image

    with TRACER.start_as_current_span("POST /images") as request:
        job = await resize.enqueue("cat.png")
    await drain(runner)
    assert await job.result(timeout=1) == "cat.png"

    trace_id = request.get_span_context().trace_id
    (enqueue,) = [s for s in EXPORTER.get_finished_spans() if s.name == "enqueue t.resize"]
    assert enqueue.kind is SpanKind.PRODUCER and enqueue.context.trace_id == trace_id
    assert dict(enqueue.attributes or {}) == {
        "messaging.system": "taskrunner",
        "messaging.operation.type": "send",
        "messaging.operation.name": "enqueue",
        "messaging.destination.name": "default",
        "messaging.message.id": job.id,
        "taskrunner.task": "t.resize",
    }
    first, second = sorted(runs_of("t.resize"), key=lambda s: s.start_time or 0)
    for attempt, run in enumerate((first, second), start=1):
        assert run.kind is SpanKind.CONSUMER
        assert run.context.trace_id == trace_id  # one trace from request to execution
        assert run.parent is not None
        assert run.parent.span_id == request.get_span_context().span_id
        assert dict(run.attributes or {}) == {
            "messaging.system": "taskrunner",
            "messaging.operation.type": "process",
            "messaging.operation.name": "run",
            "messaging.destination.name": "default",
            "messaging.message.id": job.id,
            "taskrunner.task": "t.resize",
            "taskrunner.attempt": attempt,
            "taskrunner.max_attempts": 2,
            **({"error.type": "OSError"} if attempt == 1 else {}),
        }
    assert first.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in first.events)
    assert second.status.status_code is not StatusCode.ERROR


async def test_the_attempt_span_is_current_while_the_task_runs_and_only_then() -> None:
    runner = runner_on()
    outside = trace.get_current_span()

    @runner.task(name="t.nested")
    async def nested() -> None:
        with TRACER.start_as_current_span("inside"):
            pass

    with TRACER.start_as_current_span("POST /nested"):
        await nested.enqueue()
    await drain(runner)

    (run,) = runs_of("t.nested")
    (inside,) = [s for s in EXPORTER.get_finished_spans() if s.name == "inside"]
    assert inside.parent is not None and inside.parent.span_id == run.context.span_id
    assert trace.get_current_span() is outside


async def test_enqueuing_many_jobs_is_one_span_counting_them() -> None:
    runner = runner_on()

    @runner.task(name="t.ping", queue="pings")
    async def ping(n: int) -> int:
        return n

    with TRACER.start_as_current_span("POST /pings"):
        await runner.enqueue_many(ping.prepare(n) for n in range(3))
    (enqueue,) = [s for s in EXPORTER.get_finished_spans() if s.name == "enqueue t.ping"]
    assert enqueue.attributes is not None
    assert enqueue.attributes["messaging.batch.message_count"] == 3
    assert enqueue.attributes["messaging.destination.name"] == "pings"
    assert "messaging.message.id" not in enqueue.attributes


async def test_a_huge_exception_message_is_cut_in_the_span() -> None:
    runner = runner_on()

    @runner.task(name="t.load", retries=0)
    async def load() -> None:
        raise ValueError("row 1 is broken: " + "x" * 5_000_000)

    with TRACER.start_as_current_span("POST /loads"):
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


async def test_a_job_enqueued_outside_any_trace_runs_in_a_root_span() -> None:
    runner = runner_on()

    @runner.task(name="t.plain")
    async def plain() -> None:
        return None

    prepared = plain.prepare()
    assert decode_call(prepared.new.payload)[2] == {}  # no meta without an active span
    (job,) = await runner.enqueue_many([prepared])
    assert EXPORTER.get_finished_spans() == ()  # no enqueue span outside a trace
    # a worker started inside a span (an app's lifespan) does not adopt its runs
    with TRACER.start_as_current_span("lifespan"):
        await drain(runner)
    (run,) = runs_of("t.plain")
    assert run.parent is None and not run.links
    assert run.attributes is not None and run.attributes["messaging.message.id"] == job.id


async def test_a_batch_callback_links_to_the_trace_that_made_the_batch() -> None:
    runner = runner_on()

    @runner.task(name="t.upload")
    async def upload(photo: str) -> str:
        return photo

    @runner.task(name="t.publish")
    async def publish(album: int) -> int:
        return album

    with TRACER.start_as_current_span("POST /albums") as request:
        batch = await runner.batch(
            [upload.prepare(p) for p in ("a.png", "b.png")], on_success=publish.prepare(7)
        )
    await drain(runner)
    info = await batch.info()
    request_context = request.get_span_context()
    for member in runs_of("t.upload"):  # the members are the request's work: children
        assert member.parent is not None and member.parent.span_id == request_context.span_id
        assert member.attributes is not None
        assert member.attributes["taskrunner.batch_id"] == batch.id
    (callback,) = runs_of("t.publish")
    assert callback.parent is None  # a root span of its own...
    assert callback.context.trace_id != request_context.trace_id
    (link,) = callback.links  # ...linked to the request that made the batch
    assert link.context.span_id == request_context.span_id
    assert link.attributes is not None and link.attributes["taskrunner.link"] == "batch"
    assert info.on_success is not None
    assert callback.attributes is not None
    assert callback.attributes["messaging.message.id"] == info.on_success


async def test_a_recurring_tick_links_to_the_scheduler_context() -> None:
    runner = runner_on()

    @runner.task(name="t.tick", schedule=every(hours=1))
    async def tick() -> None:
        return None

    now = await runner.backend.now()
    with TRACER.start_as_current_span("scheduler") as scheduler:
        (linked,) = await runner.enqueue_many([tick_job(tick, now - 1)])
    (unlinked,) = await runner.enqueue_many([tick_job(tick, now - 2)])
    await drain(runner)
    by_job = {s.attributes["messaging.message.id"]: s for s in runs_of("t.tick") if s.attributes}
    assert by_job[unlinked.id].parent is None and not by_job[unlinked.id].links
    run = by_job[linked.id]
    assert run.parent is None
    (link,) = run.links
    assert link.context.span_id == scheduler.get_span_context().span_id
    assert link.attributes is not None and link.attributes["taskrunner.link"] == "tick"


async def test_a_snoozed_attempt_is_no_failure_in_its_span() -> None:
    from taskrunner import Snooze

    runner = runner_on()

    @runner.task(name="t.poll", retries=0)
    async def poll() -> str:
        if current_job().attempt == 1:
            raise Snooze(0)
        return "ready"

    with TRACER.start_as_current_span("POST /polls"):
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


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


async def test_an_exception_whose_str_breaks_still_fails_the_job_and_its_span() -> None:
    runner = runner_on()

    @runner.task(name="t.unprintable", retries=0)
    async def unprintable() -> None:
        raise UnprintableError

    job = await unprintable.enqueue()
    await drain(runner)
    info = await runner.get_job(job.id)
    assert info.error is not None and info.error.type.endswith("UnprintableError")
    (run,) = runs_of("t.unprintable")
    assert run.status.status_code is StatusCode.ERROR
    (event,) = [e for e in run.events if e.name == "exception"]
    assert event.attributes is not None
    assert str(event.attributes["exception.type"]).endswith("UnprintableError")


def traceparent(span: trace.Span) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


async def test_each_call_carries_the_context_current_at_its_call() -> None:
    """The carrier is worked out once per context: calls in one span share it, the next
    span's calls carry that span, calls outside any span carry none."""
    runner = runner_on()

    @runner.task(name="t.note")
    async def note(n: int) -> None: ...

    def carried() -> dict[str, Any]:
        return decode_call(note.prepare(1).new.payload)[2]

    with TRACER.start_as_current_span("first") as first:
        assert [carried()["trace"]["traceparent"] for _ in range(3)] == [traceparent(first)] * 3
        with TRACER.start_as_current_span("inner") as inner:
            assert carried()["trace"]["traceparent"] == traceparent(inner)
        assert carried()["trace"]["traceparent"] == traceparent(first)
        assert note.options(timeout=2).prepare(1).new.payload.count(b"traceparent") == 1
    assert carried() == {}
    with TRACER.start_as_current_span("second") as second:
        assert carried()["trace"]["traceparent"] == traceparent(second)
    assert decode_call(note.options(timeout=2).prepare(1).new.payload)[2] == {"timeout": 2.0}


class _Tagging(TextMapPropagator):
    """A propagator writing one header of its own (and reading nothing)."""

    def __init__(self, tag: str | None) -> None:
        self.tag = tag

    def inject(self, carrier: Any, context: Any = None, setter: Any = default_setter) -> None:
        if self.tag is not None:
            setter.set(carrier, "x-tag", self.tag)

    def extract(self, carrier: Any, context: Any = None, getter: Any = default_getter) -> Any:
        return context

    @property
    def fields(self) -> set[str]:
        return {"x-tag"}


async def test_a_propagator_set_later_applies_to_the_next_call_in_the_same_context() -> None:
    runner = runner_on()

    @runner.task(name="t.note")
    async def note() -> None: ...

    before = propagate.get_global_textmap()
    try:
        with TRACER.start_as_current_span("request"):
            assert "traceparent" in decode_call(note.prepare().new.payload)[2]["trace"]
            propagate.set_global_textmap(_Tagging("a"))
            assert decode_call(note.prepare().new.payload)[2]["trace"] == {"x-tag": "a"}
            propagate.set_global_textmap(_Tagging(None))  # propagates nothing
            assert decode_call(note.prepare().new.payload)[2] == {}
            await note.enqueue()  # still inside a trace: the enqueue span is made
    finally:
        propagate.set_global_textmap(before)
    assert [s.name for s in EXPORTER.get_finished_spans()] == ["enqueue t.note", "request"]
