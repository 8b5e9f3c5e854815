"""The job bodies' side: every benchmark job reports to the `PROBE` of its worker process.

A job calls `hit()` when its body returns (`stamp()` first records when it started). The probe
tells its sink each time another `expect` jobs have returned, and the process's RSS at each
checkpoint; no I/O happens in a job body, so the probe costs every library the same few
nanoseconds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

Sink = Callable[..., None]

SLEEP_SECONDS = 0.005


def rss_kib(pid: int | None = None) -> int:
    """Resident set size of a process (default: this one), in KiB, from /proc."""
    with open(f"/proc/{pid or os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS line in /proc status")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, in seconds, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Probe:
    """Counts finished job bodies and records when stamped jobs started."""

    def __init__(self) -> None:
        self.count = 0
        self.expect = 0
        self.checkpoints: frozenset[int] = frozenset()
        self.starts: dict[int, float] = {}
        self.last = 0.0
        """When the last body returned (wall clock), 0 before the first."""
        self.sink: Sink = _discard

    def arm(self, expect: int, checkpoints: tuple[int, ...], sink: Sink) -> None:
        self.count = 0
        self.expect = expect
        self.checkpoints = frozenset(checkpoints)
        self.starts = {}
        self.last = 0.0
        self.sink = sink

    def stamp(self, seq: int, at: float | None = None) -> None:
        """Record when job `seq` started: `at` if given, else now."""
        self.starts[seq] = time.time() if at is None else at
        self.hit()

    def hit(self) -> None:
        self.count += 1
        self.last = time.time()
        if self.count in self.checkpoints:
            self.sink("rss", n=self.count, rss_kib=rss_kib())
        if self.expect and self.count % self.expect == 0:
            self.sink("done", t=time.time(), count=self.count, starts=self.starts)


def _discard(event: str, **payload: Any) -> None:
    del event, payload


PROBE = Probe()


async def noop_body(seq: int) -> None:
    """Workload 3: does nothing."""
    del seq
    PROBE.hit()


async def sleep_body(seq: int) -> None:
    """Workload 4: waits 5 ms, like a small I/O call."""
    del seq
    await asyncio.sleep(SLEEP_SECONDS)
    PROBE.hit()


async def stamp_body(seq: int) -> None:
    """Workload 5: records the moment its body starts."""
    PROBE.stamp(seq)


async def quiet_body(seq: int) -> None:
    """Flow workloads: a job that is not counted (the hot key's backlog, a held job)."""
    del seq


def announce_serving() -> None:
    """Called by an adapter once its worker is started: the flow workloads wait for it."""
    PROBE.sink("serving", t=time.time())


BODIES = {"noop": noop_body, "sleep": sleep_body, "stamp": stamp_body}
