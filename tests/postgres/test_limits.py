"""Limits and rates on Postgres beyond the shared conformance tests: claims racing from
several connections, a large backlog held on one key, slots freed by reclaim, wake-ups of
idle workers, and the records' flow fields (migrations/0007_flow_limits.sql)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest

from taskrunner.backend import Held, JobState, NewJob, Outcome, OutcomeKind
from taskrunner_postgres import PostgresBackend

WORKERS = 4


def flow_job(queue: str = "q", **flow: object) -> NewJob:
    return NewJob(id=str(uuid.uuid4()), task="t", queue=queue, payload=b"{}", **flow)  # type: ignore[arg-type]


@pytest.fixture
async def peers(pg_url: str, backend: PostgresBackend) -> AsyncIterator[list[PostgresBackend]]:
    """WORKERS more backends on the same schema, each with its own pool."""
    others = [PostgresBackend(pg_url) for _ in range(WORKERS)]
    await asyncio.gather(*(b.connect() for b in others))
    try:
        yield others
    finally:
        await asyncio.gather(*(b.close() for b in others))


async def running_per_key(admin: asyncpg.Connection, schema: str) -> Counter[str]:
    rows = await admin.fetch(
        f'SELECT limit_key, count(*) FROM "{schema}".jobs '
        "WHERE state = 'running' AND limit_key IS NOT NULL GROUP BY 1"
    )
    return Counter({row[0]: row[1] for row in rows})


async def test_racing_claims_never_exceed_a_limit(
    backend: PostgresBackend,
    peers: list[PostgresBackend],
    admin: asyncpg.Connection,
    schema: str,
) -> None:
    keys = [f"customer:{i}" for i in range(5)]
    jobs = [flow_job(limit_key=key, limit_max=2) for key in keys for _ in range(40)]
    jobs += [flow_job() for _ in range(50)]
    random.shuffle(jobs)
    await backend.enqueue(jobs)
    ledger: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    done: set[str] = set()

    async def work(me: PostgresBackend, name: str) -> None:
        idle = 0
        while len(done) < len(jobs) and idle < 200:
            claimed = await me.claim(["q"], random.randint(1, 6), name, 30)
            idle = 0 if claimed else idle + 1
            for record in claimed:
                if record.limit_key is not None:
                    ledger[record.limit_key] += 1
                    peak[record.limit_key] = max(peak[record.limit_key], ledger[record.limit_key])
            await asyncio.sleep(random.random() * 0.005)
            for record in claimed:
                if record.limit_key is not None:
                    ledger[record.limit_key] -= 1  # before the slot frees: never undercounts
                done.add(record.id)
            if claimed:
                kind = random.choice([OutcomeKind.SUCCEEDED, OutcomeKind.CANCELLED])
                outcomes = [Outcome(r.id, r.attempt, kind) for r in claimed]
                assert all(await me.finish(outcomes))
            else:
                await asyncio.sleep(0.01)

    async def watch() -> None:
        while len(done) < len(jobs):
            counts = await running_per_key(admin, schema)
            assert max(counts.values(), default=0) <= 2, counts
            await asyncio.sleep(0.005)

    await asyncio.wait_for(
        asyncio.gather(*(work(b, f"w{i}") for i, b in enumerate(peers)), watch()), 120
    )
    assert len(done) == len(jobs)
    assert max(peak.values()) <= 2, peak
    assert set(peak) == set(keys)


async def test_racing_claims_keep_a_rate_over_every_window(
    backend: PostgresBackend, peers: list[PostgresBackend]
) -> None:
    per = 0.4
    jobs = [flow_job(rate_key="stripe", rate_max=3, rate_per=per) for _ in range(30)]
    await backend.enqueue(jobs)
    claimed: list[str] = []

    async def work(me: PostgresBackend, name: str) -> None:
        deadline = time.monotonic() + 60
        while len(claimed) < len(jobs) and time.monotonic() < deadline:
            got = await me.claim(["q"], random.randint(1, 4), name, 30)
            claimed.extend(r.id for r in got)
            if got:
                await me.finish([Outcome(r.id, r.attempt, OutcomeKind.SUCCEEDED) for r in got])
            else:
                await me.wait(["q"], 0.5)

    await asyncio.gather(*(work(b, f"w{i}") for i, b in enumerate(peers)))
    assert sorted(claimed) == sorted(j.id for j in jobs)
    records = await backend.get(claimed)
    starts = sorted(r.started_at for r in records if r is not None and r.started_at is not None)
    # an exact sliding window on the server's clock: no 4 starts within `per` seconds
    for first, fourth in zip(starts, starts[3:], strict=False):
        assert fourth - first >= per - 1e-6, (first, fourth)


async def test_a_large_backlog_on_one_key_does_not_hold_back_other_keys(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    hot = [flow_job(limit_key="hot", limit_max=1) for _ in range(10_000)]
    await backend.enqueue(hot)  # first: ahead of the others in claim order
    others = [flow_job(limit_key=f"k{i}", limit_max=1) for i in range(100)]
    await backend.enqueue(others)
    taken: list[str] = []
    calls = 0
    while len(taken) < 101 and calls < 50:
        taken.extend(r.id for r in await backend.claim(["q"], 10, "w", 30))
        calls += 1
    assert set(taken) == {hot[0].id} | {j.id for j in others}
    assert calls <= 12  # one claim sets the backlog aside; then ten jobs a claim
    assert await backend.claim(["q"], 10, "w", 30) == []
    held = await admin.fetchval(f"SELECT count(*) FROM \"{schema}\".jobs WHERE held = 'limit'")
    assert held == 9_999
    # finishing the hot job brings back exactly the next one, in order
    (first,) = await backend.get([hot[0].id])
    assert first is not None
    await backend.finish([Outcome(first.id, first.attempt, OutcomeKind.SUCCEEDED)])
    assert [r.id for r in await backend.claim(["q"], 10, "w", 30)] == [hot[1].id]
    stats = await backend.stats(["q"])
    assert stats["q"][JobState.QUEUED] == 9_998  # held jobs count as queued


async def test_an_expired_lease_frees_its_slot_through_reclaim(backend: PostgresBackend) -> None:
    first, second = flow_job(limit_key="k", limit_max=1), flow_job(limit_key="k", limit_max=1)
    await backend.enqueue([first, second])
    assert [r.id for r in await backend.claim(["q"], 10, "w", 0.3)] == [first.id]
    (record,) = await backend.get([second.id])
    assert record is not None and record.held is Held.LIMIT
    await asyncio.sleep(0.5)
    assert await backend.reclaim() == [first.id]
    (record,) = await backend.get([second.id])
    assert record is not None and record.held is None
    # the reclaimed job keeps its place in claim order: it runs again first
    (again,) = await backend.claim(["q"], 10, "w", 30)
    assert (again.id, again.attempt) == (first.id, 2)
    (record,) = await backend.get([second.id])
    assert record is not None and record.state is JobState.QUEUED
    assert record.held is Held.LIMIT and record.attempt == 0


async def test_a_finish_by_another_client_wakes_an_idle_worker(
    backend: PostgresBackend, peers: list[PostgresBackend]
) -> None:
    jobs = [flow_job(limit_key="k", limit_max=1) for _ in range(2)]
    await backend.enqueue(jobs)
    (running,) = await backend.claim(["q"], 10, "w", 30)
    assert await backend.claim(["q"], 10, "w", 30) == []
    waiter = peers[0]
    began = time.monotonic()
    await waiter.wait(["q"], 0.5)  # only a held job: no wake-up, no spinning
    assert time.monotonic() - began >= 0.45
    waiting = asyncio.create_task(waiter.wait(["q"], 30))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await backend.finish([Outcome(running.id, running.attempt, OutcomeKind.SUCCEEDED)])
    await asyncio.wait_for(waiting, 10)
    assert [r.id for r in await waiter.claim(["q"], 10, "w", 30)] == [jobs[1].id]


async def test_an_idle_worker_wakes_when_a_rate_window_opens(backend: PostgresBackend) -> None:
    jobs = [flow_job(rate_key="r", rate_max=1, rate_per=1.0) for _ in range(2)]
    await backend.enqueue(jobs)
    assert [r.id for r in await backend.claim(["q"], 10, "w", 30)] == [jobs[0].id]
    assert await backend.claim(["q"], 10, "w", 30) == []
    began = time.monotonic()
    await backend.wait(["q"], 30)
    assert 0.5 <= time.monotonic() - began < 10
    await asyncio.sleep(0.05)  # the window is judged on the server's clock
    assert [r.id for r in await backend.claim(["q"], 10, "w", 30)] == [jobs[1].id]


async def test_records_carry_the_flow_fields(backend: PostgresBackend) -> None:
    both = flow_job(limit_key="L", limit_max=3, rate_key="R", rate_max=5, rate_per=2.5)
    plain = flow_job()
    await backend.enqueue([both, plain])
    records = await backend.get([both.id, plain.id])
    assert [
        (r.limit_key, r.limit_max, r.rate_key, r.rate_max, r.rate_per, r.held) for r in records if r
    ] == [
        ("L", 3, "R", 5, 2.5, None),
        (None, 0, None, 0, 0.0, None),
    ]
    claimed = await backend.claim(["q"], 10, "w", 30)
    assert {(r.limit_key, r.rate_key, r.rate_per) for r in claimed} == {
        ("L", "R", 2.5),
        (None, None, 0.0),
    }


async def test_upkeep_forgets_rate_windows_that_no_longer_count(
    backend: PostgresBackend, admin: asyncpg.Connection, schema: str
) -> None:
    quiet = flow_job(rate_key="a", rate_max=1, rate_per=0.2)
    busy = flow_job(rate_key="b", rate_max=1, rate_per=3600.0)
    await backend.enqueue([quiet, busy])
    assert len(await backend.claim(["q"], 10, "w", 30)) == 2
    await asyncio.sleep(0.3)
    await backend.reclaim()
    keys = await admin.fetch(f'SELECT key FROM "{schema}".rate_windows')
    assert [row[0] for row in keys] == ["b"]
