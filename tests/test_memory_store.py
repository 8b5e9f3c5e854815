"""The memory store's per-claim and per-outcome shortcuts against what they stand for: the
record a claim hands out copies every field but the attempts, and the activity counts
(whose buckets are looked up once per second) match a count of the attempts themselves."""

from __future__ import annotations

import dataclasses

from taskrunner.backend import AttemptOutcome, JobRecord, JobState
from taskrunner.backend.inspection import SECONDS_KEPT
from taskrunner.memory.activity import ActivityLog
from taskrunner.memory.store import StoredJob

OK, FAILED = AttemptOutcome.SUCCEEDED, AttemptOutcome.FAILED


def test_a_handed_out_record_copies_every_field_but_the_attempts() -> None:
    names = [f.name for f in dataclasses.fields(JobRecord)]
    values = {name: f"value of {name}" for name in names}
    job = StoredJob(**values)  # type: ignore[arg-type]
    record = job.record()
    assert type(record) is JobRecord
    for name in names:
        expected = None if name == "attempts" else values[name]
        assert getattr(record, name) == expected, name


def test_activity_counts_each_attempt_in_its_second_and_minute() -> None:
    log = ActivityLog()
    ends = [
        (119.2, OK),
        (119.9, FAILED),
        (120.0, OK),  # a new second and a new minute
        (120.5, OK),
        (119.5, OK),  # the clock went back: counted in the earlier second again
        (125.0, FAILED),
        (-0.5, OK),  # before the epoch: second -1, minute -1
    ]
    for ended_at, outcome in ends:
        log.record("q", ended_at, 0.1, outcome)
    snapshot = log.snapshot("q", since=60.0)
    assert snapshot.per_minute == {1: {OK: 2, FAILED: 1}, 2: {OK: 2, FAILED: 1}, -1: {OK: 1}}
    assert snapshot.per_second == {119: {OK: 2, FAILED: 1}}  # the minute `since` is in
    assert log.snapshot("q", since=120.0).per_second == {120: {OK: 2}, 125: {FAILED: 1}}
    assert [end[0] for end in snapshot.recent] == [end for end, _ in reversed(ends)]


def test_activity_drops_buckets_older_than_it_keeps() -> None:
    log = ActivityLog()
    log.record("q", 1_000.0, 0.0, OK)
    later = 1_000.0 + SECONDS_KEPT
    log.record("q", later, 0.0, OK)
    log.record("q", later + 0.5, 0.0, FAILED)
    assert log.snapshot("q", since=1_000.0).per_second == {}  # dropped with its minute's
    start = int(later // 60) * 60
    assert log.snapshot("q", since=start).per_second == {int(later): {OK: 1, FAILED: 1}}


def test_a_claim_counts_the_job_as_running() -> None:
    from taskrunner.backend import NewJob
    from taskrunner.memory.store import Store

    store = Store(lambda: 10.0)
    store.store_new(NewJob(id="a", task="t", queue="q", payload=b"{}"), 10.0)
    job = store.jobs["a"]
    record = store.start(job, 10.0, 30.0, "w")
    assert (record.state, record.attempt, record.lease_until, record.worker) == (
        JobState.RUNNING,
        1,
        40.0,
        "w",
    )
    assert store.running == {"a": job}
    assert store.counts["q"][JobState.QUEUED] == 0
    assert store.counts["q"][JobState.RUNNING] == 1


def test_the_attempt_history_kept_as_tuples_reads_back_as_attempt_records() -> None:
    from taskrunner.backend import AttemptRecord, NewJob
    from taskrunner.memory.store import Store

    store = Store(lambda: 10.0)
    store.store_new(NewJob(id="a", task="t", queue="q", payload=b"{}", max_attempts=3), 10.0)
    job = store.jobs["a"]
    store.start(job, 10.0, 30.0, "w1")
    store.end_attempt(job, 11.5, FAILED, b"boom")
    store.start(job, 12.0, 30.0, "w2")
    store.end_attempt(job, 12.25, OK)
    record = store.full_record("a")
    assert record is not None
    assert record.attempts == [
        AttemptRecord(1, "w1", 10.0, 11.5, FAILED, b"boom"),
        AttemptRecord(2, "w2", 12.0, 12.25, OK, None),
    ]
    record.attempts.clear()  # a read's copy: the store keeps its own
    assert len(store.full_record("a").attempts or []) == 2  # type: ignore[union-attr]
    assert job.attempts is None  # the history lives in `history` only
