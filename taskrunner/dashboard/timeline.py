"""A job's attempts as a timeline: one bar per attempt, placed on the span from the job's
enqueue to its last moment, for the job page to draw as SVG (no inline styles: the page's
Content-Security-Policy forbids them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from taskrunner._present import seconds
from taskrunner.backend import JobState
from taskrunner.job import JobInfo

WIDTH = 1000.0  # the SVG's units across
SHORTEST = 4.0  # a bar is drawn at least this wide, so an instant attempt shows


@dataclass(frozen=True, slots=True)
class Bar:
    """One attempt on the timeline: where it starts and how wide it is (in SVG units),
    its outcome (`running` for the attempt under way) and a sentence for its tooltip."""

    attempt: int
    outcome: str
    x: float
    width: float
    label: str


def timeline(job: JobInfo, now: datetime) -> list[Bar]:
    """The job's attempts (and the one running at `now`), oldest first."""
    spans = [
        (a.attempt, a.started_at or a.ended_at, a.ended_at, a.outcome.value) for a in job.attempts
    ]
    if job.state is JobState.RUNNING and job.started_at is not None:
        spans.append((job.attempt, job.started_at, max(now, job.started_at), "running"))
    if not spans:
        return []
    origin = min(job.enqueued_at, *(start for _, start, _, _ in spans))
    total = max((max(end for _, _, end, _ in spans) - origin).total_seconds(), 1e-3)
    bars = []
    for attempt, start, end, outcome in spans:
        x = (start - origin).total_seconds() / total * WIDTH
        width = max((end - start).total_seconds() / total * WIDTH, SHORTEST)
        took = seconds((end - start).total_seconds())
        bars.append(
            Bar(
                attempt,
                outcome,
                min(x, WIDTH - SHORTEST),
                width,
                f"attempt {attempt}: {outcome}, {took}",
            )
        )
    return bars
