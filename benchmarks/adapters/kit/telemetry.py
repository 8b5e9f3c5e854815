"""The telemetry workload, measured for taskrunner only: what outcome hooks and tracing cost
a worker. The adapter sets them up in each process from the phase (see `TELEMETRY`).

- `telemetry-drain`: the noop drain of workload 3, with nothing (phase `plain`), with a
  runner-wide `on_success` hook (phase `hooked`), or with that hook and an OpenTelemetry SDK
  tracer provider, so that each attempt records a span (phase `traced`; no exporter: the
  cost of taskrunner's spans, not of shipping them).
"""

from __future__ import annotations

from kit.library import Library
from kit.protocol import Spec
from kit.workloads import Figures, Workload, drain

TELEMETRY = "telemetry-drain"


async def telemetry_drain(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 14: the noop drain of workload 3; the phase says what the worker does
    besides (set up by the adapter in the worker's process)."""
    return await drain(lib, spec, script)


TELEMETRY_WORKLOADS: dict[str, Workload] = {TELEMETRY: telemetry_drain}
