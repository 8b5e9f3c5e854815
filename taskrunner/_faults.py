"""Deliberate crashes, for tests that prove a crash at any step loses no job.

With `TASKRUNNER_CRASH_AT=<point>` in its environment, a worker process exits at once
(`os._exit`, no cleanup, like a SIGKILL) when it first reaches that point. Unset, each point
costs one global lookup.
"""

from __future__ import annotations

import os
import sys

POINTS = (
    "after_claim",  # jobs are claimed; none has started
    "after_handler",  # the task returned; its outcome is not yet queued for reporting
    "before_complete",  # an outcome batch is about to be written
    "after_complete",  # an outcome batch was written
    "scheduling_retry",  # a failed attempt is about to be reported as a retry
)
EXIT_CODE = 70

ARMED: str | None = os.environ.get("TASKRUNNER_CRASH_AT") or None
if ARMED is not None and ARMED not in POINTS:
    raise SystemExit(f"TASKRUNNER_CRASH_AT={ARMED!r} is not one of {', '.join(POINTS)}")


def reached(point: str) -> None:
    """Exit now if the process was told to crash at `point`."""
    if point == ARMED:
        print(f"taskrunner: crashing at {point} (TASKRUNNER_CRASH_AT)", file=sys.stderr, flush=True)
        os._exit(EXIT_CODE)
