"""A finish on SQLite ends its jobs in one statement, their results and errors carried as
JSON text (`jobs.end_jobs`): what each job stores is the bytes it was given, and a batch
holding bytes that JSON text cannot carry (not UTF-8, or a NUL) ends each job on its own,
storing the same."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from taskrunner.backend import JobState, Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_sqlite import SqliteBackend

UTF8 = [b'{"value": "caf\xc3\xa9 \xe2\x9c\x93"}', b"null", b"", None]
NOT_TEXT = [b"\xff\xfe not UTF-8", b"a NUL \x00 inside"]


@pytest.mark.parametrize("results", [UTF8, UTF8 + NOT_TEXT[:1], UTF8 + NOT_TEXT[1:]])
async def test_each_job_keeps_its_own_bytes(
    backend: SqliteBackend, db_path: Path, results: list[bytes | None]
) -> None:
    await backend.enqueue([new_job(queue="q") for _ in range(2 * len(results))])
    records = await backend.claim(["q"], 2 * len(results), "w", 30)
    succeeded, failed = records[: len(results)], records[len(results) :]
    outcomes = [
        Outcome(r.id, r.attempt, OutcomeKind.SUCCEEDED, result=value, ttl=60.0)
        for r, value in zip(succeeded, results, strict=True)
    ] + [
        Outcome(r.id, r.attempt, OutcomeKind.FAILED, error=value)
        for r, value in zip(failed, results, strict=True)
    ]
    assert await backend.finish(outcomes) == [True] * len(outcomes)

    stored = await backend.get([r.id for r in records])
    for record, value in zip(stored[: len(results)], results, strict=True):
        assert record is not None and record.state is JobState.SUCCEEDED
        assert (record.result, record.error) == (value, None)
    for record, value in zip(stored[len(results) :], results, strict=True):
        assert record is not None and record.state is JobState.FAILED
        assert (record.result, record.error) == (None, value)
    with sqlite3.connect(db_path) as conn:
        kept = dict(conn.execute("SELECT id, expires_at - finished_at FROM jobs").fetchall())
    assert [kept[r.id] for r in records] == [60.0] * len(results) + [None] * len(results)


async def test_a_stale_or_repeated_outcome_ends_nothing(backend: SqliteBackend) -> None:
    await backend.enqueue([new_job(queue="q")])
    (record,) = await backend.claim(["q"], 1, "w", 30)
    done = Outcome(record.id, record.attempt, OutcomeKind.SUCCEEDED, result=b"1")
    stale = Outcome(record.id, record.attempt - 1, OutcomeKind.FAILED, error=b"late")
    assert await backend.finish([stale, done, done]) == [False, True, False]
    (stored,) = await backend.get([record.id])
    assert stored is not None and stored.state is JobState.SUCCEEDED
    assert (stored.result, stored.error) == (b"1", None)
