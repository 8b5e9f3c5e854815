"""Rows of the `jobs` and `attempts` tables as the records of `taskrunner.backend`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from taskrunner.backend import AttemptOutcome, AttemptRecord, Held, JobRecord, JobState

STATES = {state.value: state for state in JobState}
HELD = {None: None, "limit": Held.LIMIT, "rate": Held.RATE}


def job_record(row: Sequence[Any], now: float) -> JobRecord:
    """A row of `{record}` columns (see `sql/record_columns.sql`) as a JobRecord; a job
    stored as scheduled that is due by `now` reads as queued."""
    state = STATES[row[4]]
    if state is JobState.SCHEDULED and row[9] <= now:
        state = JobState.QUEUED
    return JobRecord(
        row[0], row[1], row[2], bytes(row[3]), state, row[5], row[6], row[7], row[8],
        row[9], row[10], row[11], row[12], row[13], row[14], _bytes(row[15]),
        _bytes(row[16]), _bytes(row[17]), bool(row[18]), None, row[19], row[20], row[21],
        row[22], row[23], HELD[row[24]] if state is JobState.QUEUED else None, row[25],
        tuple(json.loads(row[26])) if row[26] else (), bool(row[27]),
    )  # fmt: skip


def _bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)


def attempt_record(row: Sequence[Any]) -> AttemptRecord:
    """A row of `sql/attempts_of.sql` as an AttemptRecord."""
    attempt, worker, started_at, ended_at, outcome, error = row
    return AttemptRecord(attempt, worker, started_at, ended_at, AttemptOutcome(outcome), error)
