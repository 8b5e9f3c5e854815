"""Converting between protocol values and what the scripts take and return."""

from __future__ import annotations

import math
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
    OutcomeKind,
)

MICROS = 1_000_000
# the flow-control fields of a job hash, as enqueue writes them and claim answers them
FLOW_FIELDS = ("limit_key", "limit_max", "rate_key", "rate_max", "rate_per")
# the fields `get` reads of a job hash, in this order
FIELDS = (
    "task",
    "queue",
    "payload",
    "state",
    "priority",
    "attempt",
    "max_attempts",
    "enqueued_at",
    "run_at",
    "key",
    "started_at",
    "finished_at",
    "lease_until",
    "worker",
    "result",
    "error",
    "progress",
    "cancel",
    "attempts",
    "expires_at",
    *FLOW_FIELDS,
    "held",
    "batch",
    "after",
    "after_anyway",
)


def micros(seconds: float) -> int:
    return round(seconds * MICROS)


def finish_arguments(outcomes: Sequence[Outcome]) -> list[bytes]:
    """finish.lua's arguments after the prefix and queue: the outcomes' JSON header, then
    their data in one string. It runs for every finished job: no call per job but `len`."""
    succeeded = OutcomeKind.SUCCEEDED
    data = [(o.result if o.kind is succeeded else o.error) or b"" for o in outcomes]
    ttls = {ttl: -1 if ttl is None else micros(ttl) for ttl in {o.ttl for o in outcomes}}
    header = [
        [o.job_id, o.attempt, o.kind, micros(o.delay) if o.delay else 0, ttls[o.ttl], len(d)]
        for o, d in zip(outcomes, data, strict=True)
    ]  # the kind (a str enum) goes as its value
    return [orjson.dumps(header), b"".join(data)]


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _int(value: bytes | None, default: int = 0) -> int:
    try:
        return default if value is None else int(value)
    except ValueError:
        return default


def _micros(value: bytes | None) -> float:
    """A time in microseconds as stored: digits, or past the year 5138 a Lua number's text
    (2.53402300799e+17), which an enqueue before the ten-year cap could write."""
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return 0


def _time(value: bytes | None) -> float | None:
    return None if value is None else _micros(value) / MICROS


def parse_record(
    job_id: bytes | str, values: Sequence[bytes | None], now_us: int | None = None
) -> JobRecord | None:
    """A JobRecord from a script's or HMGET's answer; None if the hash is gone, or if the
    job finished and its retention ended by `now_us` (reclaim deletes it later).

    A hash some other program wrote may lack fields: they read as empty, and a state that is
    not one of ours reads as failed, so such a job can still be looked at and purged.
    """
    if all(value is None for value in values):
        return None
    # fmt: off
    (task, queue, payload, state, priority, attempt, max_attempts, enqueued_at, run_at, key,
     started_at, finished_at, lease_until, worker, result, error, progress, cancel, attempts,
     expires_at, *flow, held, batch, after, after_anyway) = values  # the order of FIELDS
    # fmt: on
    run_at_us = _micros(run_at)
    job_state = _state(state, expires_at, run_at_us, now_us)
    if job_state is None:
        return None
    record = JobRecord(
        id=job_id.decode() if isinstance(job_id, bytes) else job_id,
        task=(task or b"").decode(),
        queue=(queue or b"").decode(),
        payload=payload or b"",
        state=job_state,
        priority=_int(priority),
        attempt=_int(attempt),
        max_attempts=_int(max_attempts, 1),
        enqueued_at=_micros(enqueued_at) / MICROS,
        run_at=run_at_us / MICROS,
        key=_text(key),
        started_at=_time(started_at),
        finished_at=_time(finished_at),
        # a finished job's hash keeps its last lease (common.lua: finish_job): not a lease
        lease_until=_time(lease_until) if job_state is JobState.RUNNING else None,
        worker=_text(worker),
        result=result,
        error=error,
        progress=progress,
        cancel_requested=cancel == b"1",
        attempts=parse_attempts(attempts),
        batch_id=_text(batch),
        after=() if after is None else tuple(orjson.loads(after)),
        after_run_anyway=after_anyway == b"1",
    )
    _set_flow(record, flow)
    if job_state is JobState.QUEUED and held in (b"limit", b"rate"):
        record.held = Held(held.decode())
    _add_final_attempt(record)
    return record


def state_counts(flat: Sequence[bytes | int]) -> dict[JobState, int]:
    """Counts per state from a script's answer of pairs of a state and its count (stats.lua,
    batch_part.lua), in `JobState`'s order; a state not answered counts 0."""
    counts = dict.fromkeys(JobState, 0)
    for state, count in zip(flat[::2], flat[1::2], strict=True):
        counts[JobState(state.decode() if isinstance(state, bytes) else str(state))] = int(count)
    return counts


def _state(
    state: bytes | None, expires_at: bytes | None, run_at_us: float, now_us: int | None
) -> JobState | None:
    """The job's state as of `now_us` (a state not ours reads as failed); None if the job
    finished and its retention ended by then."""
    try:
        job_state = JobState((state or b"").decode())
    except ValueError:
        job_state = JobState.FAILED
    if now_us is None:
        return job_state
    if expires_at is not None and job_state.finished and _micros(expires_at) <= now_us:
        return None
    if job_state is JobState.SCHEDULED and run_at_us <= now_us:
        return JobState.QUEUED  # due: it waits in the same set, claimable
    return job_state


def _add_final_attempt(record: JobRecord) -> None:
    """Add the attempt that finished the job, which the scripts do not log (common.lua)."""
    attempts = record.attempts if record.attempts is not None else []
    if (
        record.state.finished
        and record.attempt > 0
        and record.started_at is not None
        and record.finished_at is not None
        and (not attempts or attempts[-1].attempt < record.attempt)
    ):
        attempts.append(
            AttemptRecord(
                attempt=record.attempt,
                worker=record.worker,
                started_at=record.started_at,
                ended_at=record.finished_at,
                outcome=AttemptOutcome(record.state.value),
                error=record.error if record.state is JobState.FAILED else None,
            )
        )


def parse_attempts(log: bytes | None) -> list[AttemptRecord]:
    """The attempt log: one JSON object per line (see attempt_ended in common.lua)."""
    attempts = []
    for line in (log or b"").splitlines():
        entry = orjson.loads(line)
        attempts.append(
            AttemptRecord(
                attempt=int(entry["attempt"]),
                worker=entry["worker"] or None,
                started_at=int(entry["started_at"]) / MICROS if entry["started_at"] else None,
                ended_at=int(entry["ended_at"]) / MICROS,
                outcome=AttemptOutcome(entry["outcome"]),
                error=entry["error"].encode() if entry["error"] else None,
            )
        )
    return attempts


# the fields of one row of claim.lua's answer before the flow-control ones
FIELDS_CLAIMED = ("id", "task", "queue", "payload", "priority", "attempt", "max_attempts",
                  "enqueued_at", "run_at", "key")  # fmt: skip
_FLOW_AT = len(FIELDS_CLAIMED)
_BATCH_AT = _FLOW_AT + len(FLOW_FIELDS)
_NO_EXTRAS = [None] * (_BATCH_AT + 3 - _FLOW_AT)  # a row's flow, batch, dependency fields


def parse_claimed(
    row: Sequence[Any], now_us: int, lease_us: int, worker: str, queue: str
) -> JobRecord:
    """A JobRecord from one row of claim.lua's answer (fields checked by the script), a job
    of `queue` (every row of one answer is: its name is decoded once, by the caller).

    It runs once per claimed job, so it reads the row in one pass and leaves the fields
    most jobs lack (flow control, batch, dependencies) to `_claimed_extras`."""
    # fmt: off
    (job_id, task, _, payload, priority, attempt, max_attempts, enqueued_at, run_at,
     key) = row[:_FLOW_AT]  # bytes, Lua numbers as ints, nil (false) as None
    # fmt: on
    record = JobRecord(
        id=job_id.decode(),
        task=task.decode(),
        queue=queue,
        payload=payload,
        state=JobState.RUNNING,
        priority=int(priority),
        attempt=attempt,
        max_attempts=int(max_attempts),
        enqueued_at=int(enqueued_at) / MICROS,
        run_at=int(run_at) / MICROS,
        key=None if key is None else key.decode() if isinstance(key, bytes) else str(key),
        started_at=now_us / MICROS,
        lease_until=(now_us + lease_us) / MICROS,
        worker=worker,
    )
    if row[_FLOW_AT:] != _NO_EXTRAS:  # a list compared in C: no call for most jobs
        _claimed_extras(record, row)
    return record


def _claimed_extras(record: JobRecord, row: Sequence[Any]) -> None:
    """Fill the flow-control, batch and dependency fields of a claimed job's record."""
    batch, after, anyway = (*row[_BATCH_AT:], None, None, None)[:3]
    _set_flow(record, row[_FLOW_AT:_BATCH_AT])
    record.batch_id = _text(_as_bytes(batch))
    record.after = () if not isinstance(after, bytes) else tuple(orjson.loads(after))
    record.after_run_anyway = anyway == b"1"


def enqueue_header(job: NewJob) -> list[object]:
    """A new job's entry in enqueue.lua's header (its payload goes apart)."""
    return [
        job.id,
        job.task,
        str(job.priority),
        job.max_attempts,
        job.key or False,
        micros(job.delay),
        False if job.at is None else micros(job.at),
        False if job.key_ttl is None else math.ceil(job.key_ttl * 1000),
        flow_fields(job),
        job.batch_id or False,
    ]


def is_plain(job: NewJob) -> bool:
    """Whether enqueue_plain.lua can store the job: no key, batch, limit, rate or
    dependencies (most web handlers' jobs)."""
    return (
        job.key is None
        and job.batch_id is None
        and not job.after
        and job.limit_key is None
        and job.rate_key is None
    )


def plain_arguments(job: NewJob) -> list[object]:
    """A plain job's arguments to enqueue_plain.lua, after the prefix and the queue."""
    at = "" if job.at is None else micros(job.at)
    return [
        job.id,
        job.task,
        str(job.priority),
        job.max_attempts,
        micros(job.delay),
        at,
        job.payload,
    ]


def flow_fields(job: NewJob) -> list[str | int | bool] | bool:
    """A new job's flow-control fields as enqueue.lua takes them (False: none). rate_per goes
    as the text of the float, so reads give back exactly the number enqueued."""
    if job.limit_key is None and job.rate_key is None:
        return False
    return [
        job.limit_key if job.limit_key is not None else False,
        job.limit_max,
        job.rate_key if job.rate_key is not None else False,
        job.rate_max,
        repr(float(job.rate_per)),
    ]


def _set_flow(record: JobRecord, values: Sequence[bytes | int | None]) -> None:
    """Fill a record's flow-control fields from the values of FLOW_FIELDS, as stored."""
    limit_key, limit_max, rate_key, rate_max, rate_per = map(_as_bytes, values)
    if limit_key is not None:
        record.limit_key = limit_key.decode()
        record.limit_max = _int(limit_max)
    if rate_key is not None:
        record.rate_key = rate_key.decode()
        record.rate_max = _int(rate_max)
        try:
            record.rate_per = float(rate_per or 0)
        except ValueError:
            record.rate_per = 0.0


def _as_bytes(value: bytes | int | None) -> bytes | None:
    """A field of a script's answer as bytes (Redis hands a Lua number over as an int)."""
    return str(value).encode() if isinstance(value, int) else value
