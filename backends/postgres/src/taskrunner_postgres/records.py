"""Rows to the records of the backend protocol, and outcomes to query parameters."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from taskrunner.backend import (
    AttemptOutcome,
    AttemptRecord,
    Held,
    JobRecord,
    JobState,
    NewJob,
    Outcome,
    WorkerRecord,
)

STATES: dict[str, JobState] = {state.value: state for state in JobState}
OUTCOMES: dict[str, AttemptOutcome] = {outcome.value: outcome for outcome in AttemptOutcome}
HELD: dict[str, Held] = {reason.value: reason for reason in Held}


def canonical_id(job_id: str) -> str | None:
    """The id as Postgres prints it, or None if it is not a UUID (so no job has it)."""
    try:
        return str(uuid.UUID(job_id))
    except (ValueError, TypeError, AttributeError):
        return None


def uuid_array(ids: Sequence[str]) -> str | None:
    """`ids` as the text of a Postgres array of UUIDs (None if empty): a statement that
    takes a list of id lists takes one such text per list. The enqueue raised
    DependencyNotFound for an id that is no UUID first (see dependencies.py)."""
    if not ids:
        return None
    return "{" + ",".join(canonical_id(job_id) or job_id for job_id in ids) + "}"


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
        None,  # attempts: `get` fills them in
        row[19],
        row[20],
        row[21],
        row[22],
        row[23],
        None if row[24] is None else HELD[row[24]],
        row[25],
        () if row[26] is None else tuple(row[26]),
        row[27],
    )


def job_arguments(
    job: NewJob, keyed: bool = False, windowed: bool = False, waits: bool = True
) -> list[Any]:
    """One job's values, in the order of `enqueue_arguments`' columns: what
    `sql/enqueue_one.sql` takes for a lone job."""
    values = [
        job.id,
        job.task,
        job.queue,
        job.payload,
        job.priority,
        job.max_attempts,
        float(job.delay),
        None if job.at is None else float(job.at),
        job.limit_key,
        job.limit_max,
        job.rate_key,
        job.rate_max,
        float(job.rate_per),
        job.batch_id,
    ]
    if keyed:
        values.append(job.key)
    if windowed:
        values.append(job.key_ttl)
    if waits:
        after_ttl = None if job.after_ttl is None else float(job.after_ttl)
        values += (uuid_array(job.after), job.after_run_anyway, after_ttl)
    return values


def enqueue_arguments(
    jobs: Sequence[NewJob], keyed: bool, windowed: bool = False, waits: bool = True
) -> list[list[Any]]:
    """The column arrays `sql/enqueue.sql` (or `enqueue_keyed.sql`, `enqueue_window.sql`)
    takes: the job's columns, flow fields and batch, then its key and its window, if asked,
    and its dependencies (`waits`: only a batch's callbacks, which have none, go without)."""
    if not jobs:
        return [[] for _ in range(14 + keyed + windowed + 3 * waits)]
    rows = [job_arguments(job, keyed, windowed, waits) for job in jobs]
    return [list(column) for column in zip(*rows, strict=True)]


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


def attempt_records(record: JobRecord, logged: str | None) -> list[AttemptRecord]:
    """Every attempt of a job that ended, oldest first: those logged in its `attempts`
    column (JSON text), then the one that finished it, which its own fields tell."""
    attempts = [] if logged is None else [_attempt(entry) for entry in orjson.loads(logged)]
    if (
        record.state.finished
        and record.attempt > 0
        and record.started_at is not None
        and record.finished_at is not None
        and not any(a.attempt == record.attempt for a in attempts)
    ):
        outcome = AttemptOutcome(record.state.value)
        attempts.append(
            AttemptRecord(
                record.attempt,
                record.worker,
                record.started_at,
                record.finished_at,
                outcome,
                record.error if outcome is AttemptOutcome.FAILED else None,
            )
        )
    return attempts


def _attempt(entry: dict[str, Any]) -> AttemptRecord:
    error = entry.get("error")
    started_at = entry.get("started_at")
    return AttemptRecord(
        attempt=int(entry["attempt"]),
        worker=entry.get("worker"),
        started_at=None if started_at is None else float(started_at),
        ended_at=float(entry["ended_at"]),
        outcome=OUTCOMES.get(entry["outcome"], AttemptOutcome.FAILED),
        error=None if error is None else _unbase64(error),
    )


def _unbase64(text: str) -> bytes:
    try:
        return base64.b64decode(text)  # Postgres breaks its base64 into lines: skipped here
    except (binascii.Error, ValueError):
        return text.encode()


def worker_record(row: Any) -> WorkerRecord:
    """A WorkerRecord from a row of `sql/workers.sql`."""
    return WorkerRecord(
        id=row[0],
        hostname=row[1],
        pid=row[2],
        queues=tuple(row[3]),
        concurrency=row[4],
        running=row[5],
        started_at=row[6],
        last_seen=row[7],
    )
