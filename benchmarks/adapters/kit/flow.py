"""The flow-control workloads (issue 14): limits and rates, measured for taskrunner only, as
none of the peers has a free equivalent to run them with.

Beyond `Library`, they need a `FlowLibrary` (pause and resume its queue; announce, through
`kit.probe.announce_serving`, when its worker has started) whose adapter declares these tasks
on one queue, alike in the measuring process and in every worker:

- `limited`: the noop body, with a limit per key that never binds (100 keys, far more slots
  per key than the worker's concurrency);
- `hot`: `kit.probe.quiet_body` (not counted), limited to 1 running on one key;
- `rated`: at most `spec.per_second` starts per second on one key; its body stamps
  (`PROBE.stamp(seq, at)`) the start time the backend recorded, on the backend's clock, the
  clock the rate is enforced on (a body starts a few ms after its start was granted, which is
  enough to put two bursts a second apart into one second of body stamps);
- `closed`: the quiet body, at most 1 start an hour on a key of its own.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import statistics
import time
from typing import Protocol, cast

from kit.library import Library, require
from kit.probe import cpu_seconds
from kit.protocol import Spec
from kit.workers import Events, WorkerFailed, start_worker
from kit.workloads import READY_TIMEOUT, Figures, Workload, drain, prefill

LIMITED, HOT, RATED, CLOSED = "limited", "hot", "rated", "closed"
SETTLE_SECONDS = 0.5  # after the worker says it serves, before the clock starts
IDLE_SETTLE_SECONDS = 1.0  # for the closed-window job to run and the next one to be held
HOLD_SLACK_SECONDS = 1.0  # the workers run this much longer than the window measured
WINDOW_SECONDS = 1.0
CLOCK_GRAIN = 1e-6  # a start a window after another (to the µs) is in the next window


class FlowLibrary(Library, Protocol):
    async def pause(self) -> None:
        """Pause the queue the flow tasks are on."""

    async def resume(self) -> None:
        """Resume that queue, waking the workers that wait."""

    async def flow_unavailable(self) -> str | None:
        """Why the backend cannot run these workloads yet (it keeps no limits), or None;
        leaves no unfinished job behind."""


async def flow(lib: Library) -> FlowLibrary:
    """The library as a FlowLibrary; Unsupported (the figures read n/a) if it is none."""
    await require(lib, "flow_unavailable", "has no free per-key limits or rates")
    return cast(FlowLibrary, lib)


async def limited_drain(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 8: the noop drain (phase `plain`), or the same drain with a limit on every job
    that never binds (phase `limited`)."""
    await flow(lib)
    task = LIMITED if spec.phase == "limited" else "noop"
    return await drain(lib, dataclasses.replace(spec, task=task), script)


async def hot_key(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 9: `n` jobs of other keys (their limit never binds), alone (phase `alone`) or
    behind `backlog` jobs of one key limited to 1 (phase `backlog`), twice. `ms`: all of them
    stored in the paused queue before the worker starts, so its first claims meet the whole
    backlog. `ms_settled`: then `n` more, stored in the paused queue while the worker runs
    (the backlog already set aside). Each timed from `resume` until the `n` others' bodies
    have returned (the hot key's bodies are not counted)."""
    flows = await flow(lib)
    await flows.pause()
    if spec.phase == "backlog":
        await prefill(flows, HOT, range(spec.backlog), spec.batch_size)
    await prefill(flows, LIMITED, range(spec.n), spec.batch_size)
    async with start_worker(flows, spec, script, expect=spec.n) as events:
        await events.get("serving", READY_TIMEOUT)
        first = await _resumed(flows, events, spec)
        await flows.pause()
        await prefill(flows, LIMITED, range(spec.n, 2 * spec.n), spec.batch_size)
        second = await _resumed(flows, events, spec)
    return {"ms": first * 1000, "ms_settled": second * 1000, "rate": spec.n / first}


async def _resumed(flows: FlowLibrary, events: Events, spec: Spec) -> float:
    """Seconds from resuming the queue until the probe counts another `n` bodies."""
    await asyncio.sleep(SETTLE_SECONDS)
    start = time.time()
    await flows.resume()
    done = await events.get("done", spec.timeout)
    return float(done["t"]) - start


async def rate_hold(lib: Library, spec: Spec, script: str) -> Figures:
    """Workload 10: `workers` worker processes (on memory: as many workers in one process).
    First idle, with one job held by a window closed for an hour: their CPU over `idle`
    seconds. Then a backlog of `rated` jobs: their starts over `duration` seconds from the
    first, and the workers' CPU meanwhile."""
    flows = await flow(lib)
    await flows.enqueue(CLOSED, 0)
    await flows.enqueue(CLOSED, 1)
    crew_size = 1 if lib.in_process else spec.workers
    async with contextlib.AsyncExitStack() as stack:
        crew = [
            await stack.enter_async_context(start_worker(flows, spec, script, expect=0))
            for _ in range(crew_size)
        ]
        for events in crew:
            await events.get("serving", READY_TIMEOUT)
        await asyncio.sleep(IDLE_SETTLE_SECONDS)
        idle = await cpu_percents(crew, spec.idle)
        backlog = range(int(spec.per_second * (spec.duration + 2 * HOLD_SLACK_SECONDS)))
        await prefill(flows, RATED, backlog, spec.batch_size)
        busy = await cpu_percents(crew, spec.duration + HOLD_SLACK_SECONDS)
        for events in crew:
            events.stop()  # all at once; leaving the stack then waits for each
    starts: dict[int, float] = {}
    for events in crew:
        stopped = await events.get("stopped", READY_TIMEOUT)
        starts.update({int(seq): at for seq, at in stopped["starts"].items()})
    return {
        **rate_figures(sorted(starts.values()), spec.per_second, spec.duration),
        "idle_cpu_pct": max(idle),
        "busy_cpu_pct": statistics.fmean(busy),
        "busy_cpu_pct_max": max(busy),
    }


async def cpu_percents(crew: list[Events], seconds: float) -> list[float]:
    """Each worker process's CPU time over the next `seconds`, in % of one core."""
    before = [cpu_seconds(events.pid) for events in crew]
    start = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - start
    for events in crew:
        events.check()
    used = [cpu_seconds(events.pid) - spent for events, spent in zip(crew, before, strict=True)]
    return [100 * cpu / elapsed for cpu in used]


def rate_figures(times: list[float], per_second: int, duration: float) -> Figures:
    """The starts in the `duration` seconds from the first one, against `per_second`.

    `rate` is taken over whole groups of `per_second` starts (start 0 to start k *
    per_second), so that a limiter letting each second's starts through in one burst is not
    judged by where the run happens to be cut. `window_max` is the most starts in any
    1-second window, `window_min` the fewest in any 1-second window inside the run (low
    when the starts come in bursts, which a sliding window allows)."""
    if not times:
        raise WorkerFailed("no job started")
    held = [at for at in times if at < times[0] + duration]
    whole = (len(held) - 1) // per_second * per_second
    if whole == 0 or held[whole] == held[0]:
        raise WorkerFailed(f"only {len(held)} starts in {duration:g} s")
    rate = whole / (held[whole] - held[0])
    span = WINDOW_SECONDS - CLOCK_GRAIN
    most = max(bisect.bisect_left(held, at + span) - i for i, at in enumerate(held))
    inside = [at for at in held if at <= held[0] + duration - WINDOW_SECONDS]
    least = min(
        bisect.bisect_left(held, at + span) - bisect.bisect_right(held, at) for at in inside
    )
    return {
        "rate": rate,
        "rate_error_pct": 100 * (rate - per_second) / per_second,
        "window_max": most,
        "window_error_pct": 100 * (most - per_second) / per_second,
        "window_min": least,
        "starts": len(held),
    }


FLOW_WORKLOADS: dict[str, Workload] = {
    "limit-drain": limited_drain,
    "hot-key": hot_key,
    "rate-hold": rate_hold,
}
