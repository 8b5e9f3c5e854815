"""An adapter script's entry point: `check`, `bench` or `worker`, with one JSON spec."""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Callable

from kit.batches import BATCH_WORKLOADS
from kit.flow import FLOW_WORKLOADS
from kit.library import Library, Unsupported
from kit.protocol import Spec, emit
from kit.sync import SYNC_WORKLOADS
from kit.telemetry import TELEMETRY_WORKLOADS
from kit.workers import serve_forever
from kit.workloads import WORKLOADS, Figures

USAGE = "usage: ADAPTER {check|bench|worker} SPEC_JSON"


def main(make: Callable[[Spec], Library]) -> None:
    """Run one command for the library that `make` builds from the spec."""
    if len(sys.argv) != 3 or sys.argv[1] not in {"check", "bench", "worker"}:
        sys.exit(USAGE)
    command, spec = sys.argv[1], Spec.from_json(sys.argv[2])
    lib = make(spec)
    if command == "worker":
        asyncio.run(serve_forever(lib, spec))
        return
    why = lib.unavailable()
    if why is not None:
        emit("result", skip=why)
    elif command == "check":
        emit("result", ok=True)
    else:
        emit("result", **_bench(lib, spec))


def _bench(lib: Library, spec: Spec) -> dict[str, object]:
    try:
        figures = asyncio.run(_run(lib, spec))
    except Unsupported as why:
        return {"figures": {"na": str(why)}}
    except Exception as error:  # reported as this run's error; the session goes on
        traceback.print_exc()
        return {"error": f"{type(error).__name__}: {error}"}
    return {"figures": figures}


async def _run(lib: Library, spec: Spec) -> Figures:
    await lib.open()
    try:
        run = {
            **WORKLOADS,
            **FLOW_WORKLOADS,
            **BATCH_WORKLOADS,
            **SYNC_WORKLOADS,
            **TELEMETRY_WORKLOADS,
        }[spec.workload]
        return await run(lib, spec, sys.argv[0])
    finally:
        await lib.close()
