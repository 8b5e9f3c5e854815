"""OpenTelemetry spans from enqueue to execution, when `opentelemetry-api` is installed
(the `otel` extra) and the app configured a tracer provider.

Enqueuing injects the caller's trace context into the job (W3C `traceparent` in the
payload's meta); the worker runs the attempt in a consumer span continuing that trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskrunner.backend import JobRecord
from taskrunner.errors import JobError
from taskrunner.retry import Snooze

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError:  # the extra is not installed: tracing costs nothing
    trace = None  # type: ignore[assignment]

ENABLED = trace is not None
_tracer: Any = None


def _get_tracer() -> Any:
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer("taskrunner")
    return _tracer


def outgoing_context() -> dict[str, str]:
    """The caller's trace context, to travel with a job (empty when there is none)."""
    if not ENABLED or not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def enqueue_span(task: str, queue: str, count: int) -> Iterator[None]:
    """A producer span around storing `count` jobs, inside the caller's trace."""
    if not ENABLED or not trace.get_current_span().get_span_context().is_valid:
        yield
        return
    attributes = {"taskrunner.task": task, "taskrunner.queue": queue,
                  "taskrunner.jobs": count, "messaging.system": "taskrunner"}  # fmt: skip
    with _get_tracer().start_as_current_span(
        f"enqueue {task}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        yield


@contextmanager
def attempt_span(record: JobRecord, carrier: dict[str, Any]) -> Iterator[Any]:
    """A consumer span for one attempt, continuing the trace the job was enqueued in."""
    if not ENABLED or not carrier:
        yield None
        return
    parent = propagate.extract({str(k): str(v) for k, v in carrier.items()})
    attributes = {"taskrunner.task": record.task, "taskrunner.queue": record.queue,
                  "taskrunner.job_id": record.id, "taskrunner.attempt": record.attempt,
                  "messaging.system": "taskrunner"}  # fmt: skip
    with _get_tracer().start_as_current_span(
        f"run {record.task}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def record_end(span: Any, exc: BaseException, error: JobError) -> None:
    """Mark the attempt's span ended by `exc`: a `Snooze` is no failure (the job comes back
    after its delay, `taskrunner.snoozed_for`); anything else fails it (`record_failure`)."""
    if span is None:
        return
    if isinstance(exc, Snooze):
        span.set_attribute("taskrunner.snoozed_for", exc.delay)
    else:
        record_failure(span, exc, error)


def record_failure(span: Any, exc: BaseException, error: JobError) -> None:
    """Mark the attempt's span failed by `exc`, with the message and traceback the worker
    records of it (`error`: cut to size, like in the job's record and the logs)."""
    if span is not None:
        cut_to_size = {"exception.message": error.message, "exception.stacktrace": error.traceback}
        span.record_exception(exc, attributes=cut_to_size)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {error.message}"))
