"""The state changes of jobs, each run by `SqliteStore.write` inside one `BEGIN IMMEDIATE`
transaction with `now` read under the write lock: the logic is that of the memory backend
(`taskrunner.memory`), the reference for the semantics, over the tables of
`migrations/`. A record whose retention has ended (`expires_at <= now`) counts as gone
everywhere, whether or not `reclaim` deleted it yet."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from taskrunner.backend import (
    FINISHED_STATES,
    Beat,
    JobState,
    LeaseStatus,
    NewJob,
    Outcome,
    OutcomeKind,
    dependency_error,
)
from taskrunner.errors import BatchNotOpen, DependencyNotFound
from taskrunner_sqlite.queries import repeated, sql
from taskrunner_sqlite.windows import window_holder

ENDS = {
    OutcomeKind.SUCCEEDED: JobState.SUCCEEDED,
    OutcomeKind.FAILED: JobState.FAILED,
    OutcomeKind.CANCELLED: JobState.CANCELLED,
}
UNSTARTED = ("queued", "scheduled", "waiting")
# 64 rows of 19 parameters: 1,216, within SQLite's limit of 32,766 since 3.32 (the backend
# needs 3.35 already, for RETURNING)
ROWS_PER_INSERT = 64
HOLD_MARGIN = 100  # queued jobs of a limit key, beyond its max, that an enqueue stores held behind


def gone(expires_at: float | None, now: float) -> bool:
    """Whether a record with this retention end counts as deleted at `now`."""
    return expires_at is not None and expires_at <= now


def due_state(run_at: float, now: float) -> str:
    return "queued" if run_at <= now else "scheduled"


def enqueue(conn: sqlite3.Connection, now: float, jobs: Sequence[NewJob]) -> list[str]:
    """Store new jobs (see `Backend.enqueue`); answers each one's id or its key holder's.
    Raises `BatchNotOpen` or `DependencyNotFound`, storing nothing, if one names a batch
    that is not open or a dependency that is not stored."""
    check_open(conn, {new.batch_id for new in jobs if new.batch_id is not None})
    check_stored(conn, now, [dependency for new in jobs for dependency in new.after])
    if all(new.key is None and not new.after for new in jobs):
        rows = [job_row(new, None, now) for new in jobs]
        if insert_rows(conn, rows) == len(rows):
            for new in jobs:
                if new.limit_key is not None:
                    hold_at_once(conn, new)
            return [new.id for new in jobs]  # the usual case: new ids, in one statement
    return [store_new(conn, new, now) for new in jobs]  # each one's own insert is a no-op


def insert_rows(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> int:
    """Store rows of sql/insert_job.sql (each a no-op if a record has its id) in order,
    `ROWS_PER_INSERT` to a statement and the rest in statements of 32, 16, ... rows (so a
    connection prepares at most 7 texts); answers how many were stored. What SQLite does
    once per statement run, above all the statement journal that the triggers on `jobs`
    make it keep, is shared by the rows of a statement: a plain job's insert cost 40% less
    than one statement per row (`executemany`)."""
    stored = start = 0
    while start < len(rows):
        size = min(ROWS_PER_INSERT, 1 << ((len(rows) - start).bit_length() - 1))
        params = [value for row in rows[start : start + size] for value in row]
        stored += conn.execute(repeated("insert_job", size), params).rowcount
        start += size
    return stored


def check_open(conn: sqlite3.Connection, batch_ids: set[str]) -> None:
    """Raise `BatchNotOpen` unless every batch named is open."""
    for batch_id in sorted(batch_ids):
        row = conn.execute(sql("batch_open"), (batch_id,)).fetchone()
        if row is None or row[1]:
            state = "unknown" if row is None else "closed"
            raise BatchNotOpen(f"batch {batch_id} is {state}: no member can join it")


def check_stored(conn: sqlite3.Connection, now: float, ids: Sequence[str]) -> None:
    """Raise `DependencyNotFound` unless every job named is stored."""
    for job_id in ids:
        row = conn.execute(sql("job_expiry"), (job_id,)).fetchone()
        if row is None or gone(row[0], now):
            raise DependencyNotFound(job_id)


def wait_on(conn: sqlite3.Connection, new: NewJob, now: float) -> None:
    """Judge a new job's dependencies: wait for those not ended, or end it at once."""
    pending = []
    for dependency in dict.fromkeys(new.after):
        state = JobState(conn.execute(sql("job_state"), (dependency,)).fetchone()[0])
        if state is JobState.SUCCEEDED or (new.after_run_anyway and state in FINISHED_STATES):
            continue
        if state in FINISHED_STATES:
            expires_at = None if new.after_ttl is None else now + new.after_ttl
            error = dependency_error(dependency, state)
            conn.execute(sql("end_job"), ("cancelled", None, error, now, expires_at, new.id))
            return
        pending.append((new.id, dependency))
    if pending:
        conn.execute(sql("set_state"), ("waiting", new.id))
        conn.executemany(sql("add_wait"), pending)


def store_new(conn: sqlite3.Connection, new: NewJob, now: float) -> str:
    if new.key is None and insert(conn, new, None, now):
        return new.id  # the usual case, a new id without a key: one statement
    stored = conn.execute(sql("job_expiry"), (new.id,)).fetchone()
    if stored is not None:
        if not gone(stored[0], now):
            return new.id  # the same job sent again: keep what is stored
        conn.execute(sql("delete_job"), (new.id,))
    key = new.key
    if key is not None and new.key_ttl is not None:
        holder = window_holder(conn, new, now)
        if holder is not None:
            return holder
        key = None  # a windowed key is not kept on the record
    elif key is not None:
        row = conn.execute(sql("key_holder"), (new.queue, key)).fetchone()
        if row is not None:
            if not gone(row[1], now):
                return str(row[0])
            conn.execute(sql("delete_job"), (row[0],))
    insert(conn, new, key, now)
    return new.id


def insert(conn: sqlite3.Connection, new: NewJob, key: str | None, now: float) -> bool:
    """Store the job, holding `key`, unless a record has its id; whether it was stored."""
    stored = conn.execute(sql("insert_job"), job_row(new, key, now)).rowcount
    if stored and new.after:
        wait_on(conn, new, now)
    elif stored:
        hold_at_once(conn, new)
    return bool(stored)


def hold_at_once(conn: sqlite3.Connection, new: NewJob) -> None:
    """Set a just-stored job aside for its limit now if a claim would only do it later
    (sql/hold_new.sql): a job of a limit key, due now, behind a backlog of its key. A job
    that waits on others, or falls due later, is judged by the claim that meets it."""
    if new.limit_key is not None and new.at is None and new.delay <= 0 and not new.after:
        conn.execute(sql("hold_new"), (new.id, max(new.limit_max or 0, 0) + HOLD_MARGIN - 1))


def job_row(new: NewJob, key: str | None, now: float) -> tuple[object, ...]:
    """The parameters of sql/insert_job.sql for the job, holding `key`."""
    run_at = new.at if new.at is not None else now + new.delay
    return (new.id, new.task, new.queue, new.payload, due_state(run_at, now), new.priority,
            new.max_attempts, now, run_at, key, new.limit_key, new.limit_max, new.rate_key,
            new.rate_max, new.rate_per, new.batch_id,
            json.dumps(new.after) if new.after else None, new.after_run_anyway,
            new.after_ttl)  # fmt: skip


def heartbeat(
    conn: sqlite3.Connection, now: float, beats: Sequence[Beat], lease: float
) -> list[LeaseStatus]:
    statuses = []
    for beat in beats:
        args = (now + lease, beat.progress, beat.job_id, beat.attempt)
        row = conn.execute(sql("heartbeat"), args).fetchone()
        if row is None:
            statuses.append(LeaseStatus.LOST)
        else:
            statuses.append(LeaseStatus.CANCEL if row[0] else LeaseStatus.HELD)
    return statuses


def attempt_rows(
    job: tuple[str, int, str, str | None, float | None],
    now: float,
    outcome: str,
    error: bytes | None = None,
) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """The `attempts` and `activity` rows that log the end of an attempt, given as
    (id, attempt, queue, worker, started_at)."""
    job_id, attempt, queue, worker, started_at = job
    runtime = max(now - started_at, 0.0) if started_at is not None else 0.0
    return (job_id, attempt, worker, started_at, now, outcome, error), (
        queue,
        now,
        runtime,
        outcome,
    )


def end_attempt(
    conn: sqlite3.Connection,
    now: float,
    job: tuple[str, int, str, str | None, float | None],
    outcome: str,
    error: bytes | None = None,
) -> None:
    """Log the end of one attempt (see `attempt_rows`)."""
    attempt, activity = attempt_rows(job, now, outcome, error)
    conn.execute(sql("record_attempt"), attempt)
    conn.execute(sql("record_activity"), activity)


def refill(conn: sqlite3.Connection, queue: str, limit_key: str | None, limit_max: int) -> None:
    """Hand jobs set aside for the limit key back to the claim, one per free slot."""
    if limit_key is not None:
        conn.execute(sql("refill_limit"), (queue, limit_key, limit_max))


def finish(conn: sqlite3.Connection, now: float, outcomes: Sequence[Outcome]) -> list[bool]:
    """Apply the outcomes whose attempt still owns its job: the job lookups, the logs of the
    attempts and the ends are one statement each for the whole batch."""
    pairs = json.dumps([[outcome.job_id, outcome.attempt] for outcome in outcomes])
    running = {(r[0], r[1]): r[2:] for r in conn.execute(sql("running_jobs"), (pairs,))}
    accepted, attempts, activity, ends, refills = [], [], [], [], []
    for outcome in outcomes:
        row = running.pop((outcome.job_id, outcome.attempt), None)  # once: a repeat is stale
        accepted.append(row is not None)
        if row is None:
            continue
        queue, worker, started_at, max_attempts, limit_key, limit_max, run_at = row
        job = (outcome.job_id, outcome.attempt, queue, worker, started_at)
        logged = attempt_rows(job, now, outcome.kind.value, outcome.error)
        attempts.append(logged[0])
        activity.append(logged[1])
        if outcome.kind in ENDS:
            ends.append((outcome.job_id, ENDS[outcome.kind].value, outcome.result,
                         outcome.error, outcome.ttl))  # fmt: skip
        else:
            _requeue(conn, now, outcome, max_attempts, run_at)
        if limit_key is not None:
            refills.append((queue, limit_key, limit_max))
    conn.executemany(sql("record_attempt"), attempts)
    conn.executemany(sql("record_activity"), activity)
    end_jobs(conn, now, ends)
    conn.executemany(sql("refill_limit"), refills)  # once the slots are free
    return accepted


End = tuple[str, str, bytes | None, bytes | None, float | None]


def end_jobs(conn: sqlite3.Connection, now: float, ends: Sequence[End]) -> None:
    """End jobs, each given as (id, state, result, error, ttl): in one statement (their
    fields carried as JSON) when every result and error is UTF-8 text, else one statement
    per job."""
    try:
        rows = [(job_id, state, _text(result), _text(error), ttl)
                for job_id, state, result, error, ttl in ends]  # fmt: skip
    except ValueError:  # bytes that JSON text cannot carry
        conn.executemany(
            sql("end_job"),
            [(state, result, error, now, None if ttl is None else now + ttl, job_id)
             for job_id, state, result, error, ttl in ends],
        )  # fmt: skip
        return
    if rows:
        conn.execute(sql("end_jobs"), (now, json.dumps(rows)))


def _text(value: bytes | None) -> str | None:
    """`value` as the text whose UTF-8 bytes it is; raises ValueError unless there is one
    (a NUL character too, which SQLite's text does not keep)."""
    if value is None:
        return None
    if b"\x00" in value:
        raise ValueError("NUL")
    return value.decode()  # UnicodeDecodeError is a ValueError


def _requeue(
    conn: sqlite3.Connection, now: float, outcome: Outcome, max_attempts: int, run_at: float
) -> None:
    """A retry or a release: back to the queue, now or after the outcome's delay."""
    error = None
    if outcome.kind is OutcomeKind.RETRY:
        error, run_at = outcome.error, now + outcome.delay
    else:  # RELEASED: the attempt did not count; back after its delay, if any
        max_attempts += 1
        if outcome.delay > 0:
            run_at = now + outcome.delay
    state = due_state(run_at, now)
    conn.execute(sql("requeue_job"), (state, run_at, max_attempts, error, outcome.job_id))


def cancel(
    conn: sqlite3.Connection, now: float, ids: Sequence[str], ttl: float | None
) -> list[JobState | None]:
    """Cancel unstarted jobs; flag running ones and log the request for listeners."""
    states: list[JobState | None] = []
    for job_id in ids:
        row = conn.execute(sql("job_state"), (job_id,)).fetchone()
        if row is None or gone(row[7], now):
            states.append(None)
            continue
        state, _, queue, limit_key, limit_max = row[:5]
        if state in UNSTARTED:
            expires_at = None if ttl is None else now + ttl
            conn.execute(sql("end_job"), ("cancelled", None, None, now, expires_at, job_id))
            refill(conn, queue, limit_key, limit_max)  # a slot it was handed goes on
            states.append(JobState.CANCELLED)
        elif state == "running":
            conn.execute(sql("request_cancel"), (job_id,))
            conn.execute(sql("log_cancel"), (job_id, now))
            states.append(JobState.RUNNING)
        else:
            states.append(JobState(state))
    return states


def retry(conn: sqlite3.Connection, now: float, ids: Sequence[str]) -> list[bool]:
    done = []
    for job_id in ids:
        row = conn.execute(sql("job_state"), (job_id,)).fetchone()
        if row is None or gone(row[7], now) or row[0] not in ("failed", "cancelled", "scheduled"):
            done.append(False)
            continue
        attempt, max_attempts = row[5], row[6]
        if row[0] != "scheduled":
            max_attempts = max(max_attempts, attempt + 1)
        conn.execute(sql("retry_job"), (now, max_attempts, job_id))
        done.append(True)
    return done
