"""Deliberate crashes, for tests that prove a crash at any step loses no job and fires no
batch callback twice.

With `TASKRUNNER_CRASH_AT=<point>` in its environment, a worker process exits at once
(`os._exit`, no cleanup, like a SIGKILL) when it first reaches that point. Unset, each point
costs one global lookup. It lives in the contract so that backends reach their own points
too; docs/guarantees.md lists them all.
"""

from __future__ import annotations

import os
import sys

POINTS = (
    # the worker's
    "after_claim",  # jobs are claimed; none has started
    "after_handler",  # the task returned; its outcome is not yet queued for reporting
    "before_complete",  # an outcome batch is about to be written
    "after_complete",  # an outcome batch was written
    "scheduling_retry",  # a failed attempt is about to be reported as a retry
    # the Redis backend's, between a batch member's outcome and the batch's callbacks
    "before_settle",  # outcomes were written that left a batch's part with no unfinished
    # member (its dirty mark is set); the batch is not settled yet
    "before_callback_flag",  # a settle stored the first of the batch's due callbacks; any
    # other is not stored yet, and no fired flag is set
    # the Redis backend's, between the end of a job others wait on and their judging
    "before_dependents",  # ends were written of jobs with dependents (their ddirty marks are
    # set); none of their dependents is judged yet
    "before_dependents_done",  # the dependents of one ended job were judged (queued or
    # cancelled); they and its mark are not taken off yet
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
