"""OpenTelemetry spans from enqueue to execution, when `opentelemetry-api` is installed
(the `otel` extra) and the app configured a tracer provider.

The spans follow OpenTelemetry's messaging semantic conventions, taskrunner being the
messaging system: an enqueue is a `send` (a producer span, `enqueue <task>`), an attempt a
`process` (a consumer span, `run <task>`), the queue the destination and the job id the
message id; taskrunner's own facts go under `taskrunner.`.

Preparing a call inside a trace puts the caller's trace context (W3C `traceparent`) into the
job's payload meta (`trace`); the attempt's span is then a child of the span that was current
there. A job prepared outside any trace (a recurring tick, the CLI, a script) carries none:
its attempts run in root spans. A job whose run is not part of the work that created it gets
a link to that context instead of a parent, in a root span of its own: a batch's callback
(created with the batch, run once every member has ended) and a recurring tick (carrying the
scheduler's context, if any, under `trace_link`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from taskrunner.backend import JobRecord
from taskrunner.errors import JobError
from taskrunner.retry import Snooze

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.trace import (
        Link,
        NoOpTracerProvider,
        ProxyTracerProvider,
        SpanKind,
        Status,
        StatusCode,
    )
except ImportError:  # the extra is not installed: tracing costs nothing
    trace = None  # type: ignore[assignment]

ENABLED = trace is not None
_configured = False  # a tracer provider, once set, stays set
_asked_at = -math.inf  # when configured() last asked for the provider (time.monotonic())
ASK_AGAIN_AFTER = 1.0  # seconds
SYSTEM = "taskrunner"
META_PARENT = "trace"  # the payload meta key of the context a run continues
META_LINK = "trace_link"  # ... and of the context a run only links to
_tracer: Any = None


def _get_tracer() -> Any:
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer("taskrunner")
    return _tracer


def configured() -> bool:
    """Whether the app set a tracer provider (until then every span would be a no-op, so
    attempts make none). Asked again at most once a second until it is set: asking reads
    the environment, which would cost every job."""
    global _configured, _asked_at
    if not _configured and (now := time.monotonic()) - _asked_at >= ASK_AGAIN_AFTER:
        _asked_at = now
        provider = trace.get_tracer_provider()
        _configured = not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider)
    return _configured


def outgoing_context() -> dict[str, str]:
    """The caller's trace context, to travel with a job (empty when there is none). Read
    at every enqueue, so worked out once per OpenTelemetry context: the same dict comes
    back while the current context (immutable) and the global propagator stay the same,
    and callers only read it."""
    return _current()[1] if ENABLED else {}


def in_trace() -> bool:
    """Whether the caller runs inside a trace (its current span is valid)."""
    return ENABLED and _current()[0]


_NO_TRACE: tuple[bool, dict[str, str]] = (False, {})
_last: tuple[Any, Any, tuple[bool, dict[str, str]]] = (None, None, _NO_TRACE)


def _current() -> tuple[bool, dict[str, str]]:
    """Whether the current context holds a valid span, and its carrier (see
    `outgoing_context`). An empty context (nothing set in it: no span) costs one look-up;
    one seen last time, a comparison. The last context is kept (and with it its span, until
    another context is seen)."""
    global _last
    context = otel_context.get_current()
    if not context:
        return _NO_TRACE
    textmap = propagate.get_global_textmap()
    last = _last
    if last[0] is context and last[1] is textmap:
        return last[2]
    carrier: dict[str, str] = {}
    valid = trace.get_current_span(context).get_span_context().is_valid
    if valid:
        textmap.inject(carrier, context=context)
    found = (valid, carrier)
    _last = (context, textmap, found)
    return found


def link_meta() -> dict[str, Any]:
    """The payload meta of a job whose run links to the caller's trace (if any) rather than
    continuing it: a recurring tick."""
    carrier = outgoing_context()
    return {META_LINK: carrier} if carrier else {}


@contextmanager
def enqueue_span(task: str, queues: set[str], ids: list[str]) -> Iterator[None]:
    """A producer span around storing the jobs `ids` (of `task`, or the first of several
    tasks, into `queues`), inside the caller's trace; none outside any trace."""
    if not in_trace():
        yield
        return
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "enqueue",
        "taskrunner.task": task,
    }
    if len(queues) == 1:
        attributes["messaging.destination.name"] = next(iter(queues))
    if len(ids) == 1:
        attributes["messaging.message.id"] = ids[0]
    else:
        attributes["messaging.batch.message_count"] = len(ids)
    with _get_tracer().start_as_current_span(
        f"enqueue {task}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        yield


def _extract(carrier: object) -> Any:
    """The span context a carrier from a payload names (None if it names none)."""
    if not isinstance(carrier, Mapping) or not carrier:
        return None
    extracted = propagate.extract({str(k): str(v) for k, v in carrier.items()})
    span_context = trace.get_current_span(extracted).get_span_context()
    return span_context if span_context.is_valid else None


def run_attributes(record: JobRecord) -> dict[str, Any]:
    """What a run span tells of its attempt."""
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "run",
        "messaging.destination.name": record.queue,
        "messaging.message.id": record.id,
        "taskrunner.task": record.task,
        "taskrunner.attempt": record.attempt,
        "taskrunner.max_attempts": record.max_attempts,
    }
    if record.batch_id is not None:
        attributes["taskrunner.batch_id"] = record.batch_id
    return attributes


AttemptSpan = tuple[Any, Any]  # a started span, and the token that made it current


def start_attempt(record: JobRecord, meta: Mapping[str, Any]) -> AttemptSpan:
    """Start the consumer span of one attempt and make it the current span: a child of the
    context the job carries, or a root span (linked to the context a batch callback or a
    tick carries, if any). Call only once `configured()`; end it with `end_attempt`.

    Started and made current by hand rather than with `start_as_current_span`: the same
    span, without three context managers per job."""
    links = []
    parent = None
    if "batch" in meta or META_LINK in meta:  # a batch's callback, a recurring tick
        linked = _extract(meta.get(META_LINK, meta.get(META_PARENT)))
        if linked is not None:
            links.append(Link(linked, {"taskrunner.link": "batch" if "batch" in meta else "tick"}))
    elif META_PARENT in meta and (span_context := _extract(meta[META_PARENT])) is not None:
        parent = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    span = _get_tracer().start_span(
        f"run {record.task}",
        # no parent: a root span, whatever span was current where the worker started
        context=parent if parent is not None else otel_context.Context(),
        kind=SpanKind.CONSUMER,
        attributes=run_attributes(record),
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    )
    return span, otel_context.attach(trace.set_span_in_context(span))


def end_attempt(
    started: AttemptSpan, exc: BaseException | None = None, error: JobError | None = None
) -> None:
    """End the attempt's span (ended by `exc`, recorded as `error`, if given: see
    `record_end`), and make the span current before it current again."""
    span, token = started
    try:
        if exc is not None and error is not None:
            record_end(span, exc, error)
    finally:
        otel_context.detach(token)
        span.end()


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
    records of it (`error`: cut to size, like in the job's record and the logs), and its
    type as `error.type`."""
    if span is not None:
        cut_to_size = {"exception.message": error.message, "exception.stacktrace": error.traceback}
        try:
            span.record_exception(exc, attributes=cut_to_size)
        except Exception:  # the SDK's str(exc) raised: an exception whose __str__ is broken
            span.add_event("exception", {"exception.type": error.type, **cut_to_size})
        span.set_attribute("error.type", error.type)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {error.message}"))
