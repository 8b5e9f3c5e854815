"""An enqueue on SQLite stores a new id without a key in one statement that does nothing
if a record has the id (`jobs.store_new`); a record with the id is then looked at: kept
while it lasts, replaced once its retention has ended."""

from __future__ import annotations

import time

import pytest

from taskrunner.backend import JobState, Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import new_job
from taskrunner_sqlite import SqliteBackend


async def test_the_same_id_twice_in_one_call_is_stored_once(backend: SqliteBackend) -> None:
    job = new_job(queue="q")
    assert await backend.enqueue([job, job]) == [job.id, job.id]
    assert len(await backend.claim(["q"], 5, "w", 30)) == 1


async def test_an_id_whose_record_has_expired_is_stored_anew(
    backend: SqliteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the backend reads the machine's clock: held still here, so that a loaded machine's
    # pauses cannot end the retention early
    clock = [time.time()]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    job = new_job(queue="q")
    await backend.enqueue([job])
    (record,) = await backend.claim(["q"], 1, "w", 30)
    await backend.finish([Outcome(job.id, record.attempt, OutcomeKind.SUCCEEDED, ttl=60)])
    assert await backend.enqueue([job]) == [job.id]  # kept while its retention lasts
    (kept,) = await backend.get([job.id])
    assert kept is not None and kept.state is JobState.SUCCEEDED
    clock[0] += 61
    assert await backend.enqueue([job]) == [job.id]
    (stored,) = await backend.get([job.id])
    assert stored is not None
    assert (stored.state, stored.attempt, stored.result) == (JobState.QUEUED, 0, None)
