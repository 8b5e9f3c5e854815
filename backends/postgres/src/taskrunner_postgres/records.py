"""Rows to the records of the backend protocol, and outcomes to query parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taskrunner.backend import NewJob, Outcome
from taskrunner.job import JobRecord, JobState

STATES: dict[str, JobState] = {state.value: state for state in JobState}


def job_record(row: Any) -> JobRecord:
    """A JobRecord from a row whose columns are those of `sql/record.sql`, in order."""
    return JobRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        STATES[row[4]],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
        row[15],
        row[16],
        row[17],
        row[18],
    )


def enqueue_arguments(jobs: Sequence[NewJob], keyed: bool) -> list[list[Any]]:
    """The column arrays `sql/enqueue.sql` (or `enqueue_keyed.sql`) takes."""
    columns: list[list[Any]] = [
        [j.id for j in jobs],
        [j.task for j in jobs],
        [j.queue for j in jobs],
        [j.payload for j in jobs],
        [j.priority for j in jobs],
        [j.max_attempts for j in jobs],
        [float(j.delay) for j in jobs],
        [None if j.at is None else float(j.at) for j in jobs],
    ]
    if keyed:
        columns.append([j.key for j in jobs])
    return columns


def finish_arguments(outcomes: Sequence[Outcome]) -> list[list[Any]]:
    """The column arrays `sql/finish.sql` takes."""
    return [
        [o.job_id for o in outcomes],
        [o.attempt for o in outcomes],
        [o.kind.value for o in outcomes],
        [o.result for o in outcomes],
        [o.error for o in outcomes],
        [float(o.delay) for o in outcomes],
        [None if o.ttl is None else float(o.ttl) for o in outcomes],
    ]
