"""Dependencies inside a write transaction: `judge`, run by every write before it commits
(`SqliteStore.write`), queues or cancels the jobs waiting on the jobs that ended in it
(noted in the `ended` table by the trigger of `migrations/0003_dependencies.sql`), and
those waiting on the jobs this cancels in turn. The memory backend's `judge_dependents`
is the reference."""

from __future__ import annotations

import sqlite3

from taskrunner.backend import JobState, dependency_error
from taskrunner_sqlite.jobs import due_state
from taskrunner_sqlite.queries import sql


def judge(conn: sqlite3.Connection, now: float) -> None:
    """Judge the dependents of every job noted as ended, oldest first."""
    while (ended := conn.execute(sql("next_ended")).fetchone()) is not None:
        seq, dependency, state = ended
        conn.execute(sql("forget_ended"), (seq,))
        for row in conn.execute(sql("waiting_on"), (dependency,)).fetchall():
            judge_one(conn, now, dependency, JobState(state), row)
        conn.execute(sql("forget_waits_on"), (dependency,))


def judge_one(
    conn: sqlite3.Connection,
    now: float,
    dependency: str,
    state: JobState,
    waiting: tuple[str, int, float | None, float],
) -> None:
    """Judge one waiting job, given as (id, after_run_anyway, after_ttl, run_at), by the
    end of one of its dependencies."""
    job_id, anyway, ttl, run_at = waiting
    if state is JobState.SUCCEEDED or anyway:
        conn.execute(sql("forget_wait"), (job_id, dependency))
        if conn.execute(sql("still_waits"), (job_id,)).fetchone() is None:
            conn.execute(sql("set_state"), (due_state(run_at, now), job_id))
        return
    conn.execute(sql("forget_waits_of"), (job_id,))
    expires_at = None if ttl is None else now + ttl
    error = dependency_error(dependency, state)
    conn.execute(sql("end_job"), ("cancelled", None, error, now, expires_at, job_id))
