"""Dependencies on Postgres beyond the conformance suite (migrations/0009_dependencies.sql):
the error bytes are the contract's; two dependencies ending at once on two connections
release their dependent once; a dependent's recorded start follows its dependency's
recorded end, also on a schema upgraded from 0012; an enqueue racing its dependency's end
never leaves its job waiting; a long chain cancels in one statement; the counts agree with
the rows; an unknown dependency leaves the caller's transaction usable and SQL by hand gets
the same check; a duplicate leaves no edge; a schema upgraded from 0008 takes dependencies
on its old jobs; and a fan of 10,000 dependents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
import asyncpg
import pytest

from taskrunner.backend import (
    JobState,
    Outcome,
    OutcomeKind,
    dependency_error,
    new_job_id,
)
from taskrunner.errors import DependencyNotFound
from taskrunner.testing.conformance.helpers import SHORT, WORKER, claim_one, new_job, state_of
from taskrunner_postgres import PostgresBackend
from taskrunner_postgres.errors import missing_dependency
from tests.helpers import eventually
from tests.postgres.test_inspection import agree, apply_first_migrations


@pytest.fixture
async def peer(pg_url: str, backend: PostgresBackend) -> AsyncIterator[PostgresBackend]:
    """Another process's backend on the same schema, with its own connections."""
    other = PostgresBackend(pg_url)
    await other.connect()
    try:
        yield other
    finally:
        await other.close()


async def end(backend: PostgresBackend, queue: str, kind: OutcomeKind) -> str:
    """Claim the one due job of `queue` and end it with `kind`; answers its id."""
    record = await claim_one(backend, queue)
    outcome = Outcome(record.id, record.attempt, kind, result=b"1", error=b"{}")
    assert await backend.finish([outcome]) == [True]
    return record.id


async def error_of(backend: PostgresBackend, job_id: str) -> bytes | None:
    (record,) = await backend.get([job_id])
    assert record is not None and record.state is JobState.CANCELLED
    return record.error


async def edges(admin: asyncpg.Connection, schema: str) -> int:
    count: int = await admin.fetchval(f'SELECT count(*) FROM "{schema}".job_dependencies')
    return count


async def test_the_sql_writes_the_contracts_error_bytes(backend: PostgresBackend) -> None:
    failed, cancelled = new_job(queue="deps"), new_job(queue="later", delay=3600)
    await backend.enqueue([failed, cancelled])
    by_failed = new_job(after=(failed.id,))
    by_cancelled = new_job(after=(cancelled.id,))
    await backend.enqueue([by_failed, by_cancelled])
    await end(backend, "deps", OutcomeKind.FAILED)
    await backend.cancel([cancelled.id], ttl=None)
    assert await error_of(backend, by_failed.id) == dependency_error(failed.id, JobState.FAILED)
    expected = dependency_error(cancelled.id, JobState.CANCELLED)
    assert await error_of(backend, by_cancelled.id) == expected
    at_enqueue = new_job(after=(failed.id,))  # judged by the insert's trigger
    await backend.enqueue([at_enqueue])
    assert await error_of(backend, at_enqueue.id) == dependency_error(failed.id, JobState.FAILED)


async def test_dependencies_ending_at_once_release_their_dependent_once(
    backend: PostgresBackend, peer: PostgresBackend
) -> None:
    dependents = []
    for _ in range(20):  # each round: both dependencies end at once, on two connections
        one, two = new_job(queue="deps"), new_job(queue="deps")
        then = new_job(queue="then", after=(one.id, two.id))
        await backend.enqueue([one, two])
        await backend.enqueue([then])
        first, second = await backend.claim(["deps"], 2, WORKER, 30)
        done = await asyncio.gather(
            backend.finish([Outcome(first.id, 1, OutcomeKind.SUCCEEDED)]),
            peer.finish([Outcome(second.id, 1, OutcomeKind.SUCCEEDED)]),
        )
        assert list(done) == [[True], [True]]
        assert await state_of(backend, then.id) is JobState.QUEUED
        dependents.append(then.id)
    claimed = await backend.claim(["then"], 100, WORKER, 30)
    assert sorted(r.id for r in claimed) == sorted(dependents)


@pytest.mark.parametrize("kind", [OutcomeKind.SUCCEEDED, OutcomeKind.FAILED])
async def test_an_enqueue_racing_its_dependencys_end_is_judged_once(
    backend: PostgresBackend, peer: PostgresBackend, kind: OutcomeKind
) -> None:
    expected = JobState.QUEUED if kind is OutcomeKind.SUCCEEDED else JobState.CANCELLED
    for _ in range(30):  # each round: the dependent is stored while its dependency ends
        first = new_job(queue="deps")
        await backend.enqueue([first])
        record = await claim_one(backend, "deps")
        then = new_job(queue="then", after=(first.id,))
        await asyncio.gather(
            peer.enqueue([then]),
            backend.finish([Outcome(record.id, 1, kind, result=b"1", error=b"{}")]),
        )
        assert await state_of(backend, then.id) is expected
        assert await backend.dependents(first.id) == []


async def test_a_chain_of_300_cancels_in_one_statement(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    chain = [new_job(queue="deps", delay=3600)]
    for _ in range(299):  # far longer than the server's stack takes triggers firing nested
        chain.append(new_job(queue="then", after=(chain[-1].id,)))
    for job in chain:
        await backend.enqueue([job])
    assert await backend.cancel([chain[0].id], ttl=None) == [JobState.CANCELLED]
    records = await backend.get([job.id for job in chain])
    assert {r.state for r in records if r is not None} == {JobState.CANCELLED}
    last = records[-1]
    assert last is not None and last.error == dependency_error(chain[-2].id, JobState.CANCELLED)
    assert await edges(admin, schema) == 0
    await agree(backend, admin, schema)


async def test_counts_follow_waiting_jobs(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    first, failed = new_job(queue="a"), new_job(queue="f")
    await backend.enqueue([first, failed])
    await end(backend, "f", OutcomeKind.FAILED)
    waiting = [new_job(queue="b", after=(first.id,)) for _ in range(3)]
    kept = [new_job(queue="c", after=(first.id,)), new_job(queue="c", after=(first.id,), delay=60)]
    doomed = new_job(queue="b", after=(failed.id,))  # cancelled as it is stored
    await backend.enqueue([*waiting, *kept, doomed])
    await agree(backend, admin, schema)
    assert (await backend.stats(["b"]))["b"][JobState.WAITING] == 3
    await backend.cancel([waiting[0].id], ttl=None)
    assert await backend.purge([JobState.WAITING], queue="b") == 2
    await agree(backend, admin, schema)
    tallies = f'"{schema}".tallies'
    await admin.execute(f"UPDATE {tallies} SET minute = minute - 5 WHERE minute > 0")
    await backend.reclaim()  # folds them into slot 0, waiting jobs too
    await agree(backend, admin, schema)
    await admin.execute(f"UPDATE {tallies} SET minute = minute - 90 WHERE minute > 0")
    await backend.reclaim()  # past the hour: into minute 0
    await agree(backend, admin, schema)
    await end(backend, "a", OutcomeKind.SUCCEEDED)  # in c: one queued, one scheduled
    await agree(backend, admin, schema)
    assert (await backend.stats(["c"]))["c"][JobState.SCHEDULED] == 1
    await admin.execute(f'TRUNCATE "{schema}".jobs')
    await agree(backend, admin, schema)
    assert await edges(admin, schema) == 0


async def test_an_unknown_dependency_leaves_the_callers_transaction_usable(
    backend: PostgresBackend, admin: asyncpg.Connection
) -> None:
    first, kept = new_job(), new_job()
    await backend.enqueue([first])
    async with admin.transaction():
        unknown = new_job_id().upper()  # named as given
        with pytest.raises(DependencyNotFound) as caught:
            await backend.enqueue([new_job(after=(first.id, unknown))], connection=admin)
        assert caught.value.job_id == unknown
        await backend.enqueue([kept], connection=admin)
    assert await state_of(backend, kept.id) is JobState.QUEUED


async def test_a_dependency_in_the_same_enqueue_is_not_stored_yet(
    backend: PostgresBackend,
) -> None:
    first = new_job()
    then = new_job(after=(first.id,))
    with pytest.raises(DependencyNotFound) as caught:
        await backend.enqueue([first, then])  # as on every backend: store `first` before
    assert caught.value.job_id == first.id
    assert await backend.get([first.id, then.id]) == [None, None]
    with pytest.raises(DependencyNotFound):
        await backend.enqueue([new_job(after=("not-a-uuid",))])


async def test_sql_by_hand_gets_the_same_check(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    unknown = new_job_id()
    with pytest.raises(asyncpg.PostgresError) as caught:
        await admin.execute(
            f'INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, '
            "payload, after) VALUES ($1, 't', 'q', 'queued', now(), 1, '', $2)",
            new_job_id(),
            [unknown],
        )
    assert missing_dependency(caught.value) == unknown


async def test_a_duplicate_leaves_no_edge(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    first = new_job()
    keyed = new_job(key="once", after=(first.id,))
    windowed = new_job(key="window", key_ttl=3600, after=(first.id,))
    await backend.enqueue([first])
    await backend.enqueue([keyed, windowed])
    again = [
        new_job(key="once", after=(first.id,)),
        new_job(key="window", key_ttl=3600, after=(first.id,)),
        keyed,  # the same job sent again
    ]
    assert await backend.enqueue(again) == [keyed.id, windowed.id, keyed.id]
    assert await edges(admin, schema) == 2
    assert await backend.dependents(first.id) == [keyed.id, windowed.id]


async def test_a_job_cancelled_by_a_dependency_is_kept_after_ttl(backend: PostgresBackend) -> None:
    first = new_job(delay=3600)
    then = new_job(after=(first.id,), after_ttl=SHORT)
    await backend.enqueue([first])
    await backend.enqueue([then])
    await backend.cancel([first.id], ttl=None)
    assert await state_of(backend, then.id) is JobState.CANCELLED
    await anyio.sleep(SHORT * 2)
    assert await state_of(backend, then.id) is None


async def test_a_released_dependent_wakes_its_queue(
    backend: PostgresBackend, admin: asyncpg.Connection
) -> None:
    heard: list[str] = []
    await admin.add_listener(backend.settings.queued_channel, lambda *a: heard.append(a[3]))
    first = new_job(queue="deps")
    then = new_job(queue="then", after=(first.id,))
    await backend.enqueue([first])
    await backend.enqueue([then])
    await eventually(lambda: "deps" in heard)
    assert "then" not in heard  # stored waiting: nothing to claim yet
    await end(backend, "deps", OutcomeKind.SUCCEEDED)
    await eventually(lambda: "then" in heard)


async def test_a_dependents_start_is_stamped_after_its_dependencys_end(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    """A claim whose transaction began before the dependency ended, but that sees the end,
    records a start after the recorded end (migrations/0013): the order on the server's
    clock is the order the jobs ran in."""
    await start_after_end(backend, admin, schema)


async def test_an_upgrade_from_0012_stamps_starts_after_what_the_claim_saw(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await apply_first_migrations(admin, schema, 11)  # 0001..0009, 0011 and 0012
    upgraded = PostgresBackend(pg_url)
    await upgraded.connect()  # applies 0013
    try:
        await start_after_end(upgraded, admin, schema)
    finally:
        await upgraded.close()


async def start_after_end(backend: PostgresBackend, admin: asyncpg.Connection, schema: str) -> None:
    """A dependent claimed in a transaction that began before its dependency ended starts,
    on the server's clock, after that end."""
    dependency = new_job(queue="first")
    dependent = new_job(queue="then", after=(dependency.id,))
    await backend.enqueue([dependency])
    await backend.enqueue([dependent])
    claimed = await claim_one(backend, "first")
    async with admin.transaction():
        await admin.fetchval("SELECT now()")  # the claim's transaction begins here
        await backend.finish([Outcome(dependency.id, claimed.attempt, OutcomeKind.SUCCEEDED)])
        rows = await admin.fetch(
            f"SELECT id FROM \"{schema}\".claim_jobs(ARRAY['then'], 1, 'w', 30.0)"
        )
    assert [str(row["id"]) for row in rows] == [dependent.id]
    ended, started = await backend.get([dependency.id, dependent.id])
    assert ended is not None and started is not None
    assert ended.finished_at is not None and started.started_at is not None
    assert started.started_at >= ended.finished_at


async def test_an_upgraded_schema_takes_dependencies_on_its_old_jobs(
    pg_url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await apply_first_migrations(admin, schema, 8)
    old = new_job_id()
    await admin.execute(
        f'INSERT INTO "{schema}".jobs (id, task, queue, state, run_at, max_attempts, payload) '
        "VALUES ($1, 't', 'default', 'queued', now(), 1, '')",
        old,
    )
    backend = PostgresBackend(pg_url)
    await backend.connect()  # applies 0009
    try:
        then = new_job(queue="then", after=(old,))
        await backend.enqueue([then])
        assert await backend.dependents(old) == [then.id]
        await end(backend, "default", OutcomeKind.SUCCEEDED)
        assert await state_of(backend, then.id) is JobState.QUEUED
        await agree(backend, admin, schema)
    finally:
        await backend.close()


async def test_a_fan_of_10000_dependents(backend: PostgresBackend) -> None:
    first = new_job(queue="deps")
    fan = [new_job(queue="fan", after=(first.id,)) for _ in range(10_000)]
    await backend.enqueue([first])
    await backend.enqueue(fan)
    assert (await backend.stats(["fan"]))["fan"][JobState.WAITING] == 10_000
    await end(backend, "deps", OutcomeKind.SUCCEEDED)
    assert (await backend.stats(["fan"]))["fan"][JobState.QUEUED] == 10_000
    claimed = await backend.claim(["fan"], 10_000, WORKER, 30)
    assert sorted(r.id for r in claimed) == sorted(job.id for job in fan)


async def test_ending_jobs_takes_their_locks_in_id_order(
    backend: PostgresBackend, server: str, schema: str, admin: asyncpg.Connection
) -> None:
    # An enqueue naming two dependencies share-locks them in id order; a worker ending both
    # in one call, its outcomes in the other order, must lock them in id order too, or the
    # two wait on each other until Postgres aborts one of them as a deadlock. (finish.sql's
    # plan takes them in id order; this keeps it so. Locking the enqueue's way round the
    # other way gives DeadlockDetectedError here.)
    jobs_ = sorted([new_job(), new_job()], key=lambda job: job.id)
    first, second = (job.id for job in jobs_)
    await backend.enqueue(jobs_)
    claimed = {r.id: r for r in await backend.claim(["default"], 2, WORKER, 60)}
    assert set(claimed) == {first, second}
    outcomes = [
        Outcome(i, claimed[i].attempt, OutcomeKind.SUCCEEDED, result=b"1") for i in (second, first)
    ]
    enqueuer = await asyncpg.connect(server)
    try:
        async with enqueuer.transaction():
            jobs = f'"{schema}".jobs'
            await enqueuer.execute(f"SELECT 1 FROM {jobs} WHERE id = $1 FOR SHARE", first)
            ending = asyncio.create_task(backend.finish(outcomes))

            async def ending_waits() -> bool:  # on the lock of `first`
                return bool(
                    await admin.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND application_name = $1",
                        f"taskrunner-test-{schema}",
                    )
                )

            await eventually(ending_waits)
            # with `second` already locked by the ending, this would be a deadlock
            await enqueuer.execute(f"SELECT 1 FROM {jobs} WHERE id = $1 FOR SHARE", second)
        with anyio.fail_after(30):
            assert await ending == [True, True]
    finally:
        await enqueuer.close()
