"""What claim and finish write for each job of a run: the times are exact integers (the
scripts print each once per call, see text() in common.lua), and the hash, the lease set
and the retention set agree on them; what the claim reads of a job and finish of its
outcome."""

from __future__ import annotations

import asyncio
import re
from importlib.resources import files

import redis.asyncio as aioredis

from taskrunner.backend import Beat, LeaseStatus, NewBatch, Outcome, OutcomeKind, new_job_id
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from tests.redis.conftest import REDIS_URL

LEASE_US = 30_000_123  # not a round number of seconds: a printed float would show it
TTL_US = 86_400_000_007


async def test_the_times_a_run_writes_for_each_job_are_exact_and_agree(
    redis_backend: RedisBackend,
) -> None:
    ids = await redis_backend.enqueue([new_job() for _ in range(3)])
    claimed = await redis_backend.claim(["default"], 3, "w", LEASE_US / 1_000_000)
    assert sorted(r.id for r in claimed) == sorted(ids)
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    keys = redis_backend.keys
    try:
        running = [await client.hgetall(keys.job("default", i)) for i in ids]
        for job_id, fields in zip(ids, running, strict=True):
            assert fields["attempt"] == "1" and "cancel" not in fields  # never asked to stop
            started, until = int(fields["started_at"]), int(fields["lease_until"])
            assert until == started + LEASE_US
            assert await client.zscore(keys.queue("default", "leases"), job_id) == until
        outcomes = [
            Outcome(r.id, r.attempt, OutcomeKind.SUCCEEDED, result=b"1", ttl=TTL_US / 1_000_000)
            for r in claimed
        ]
        assert await redis_backend.finish(outcomes) == [True] * 3
        for job_id in ids:
            fields = await client.hgetall(keys.job("default", job_id))
            finished, expires = int(fields["finished_at"]), int(fields["expires_at"])
            assert expires == finished + TTL_US
            assert await client.zscore(keys.queue("default", "done:succeeded"), job_id) == expires
            assert await client.zscore(keys.queue("default", "ix:succeeded"), job_id) == 0
            assert 0 < await client.ttl(keys.job("default", job_id)) <= TTL_US // 1_000_000 + 61
        assert await client.zcard(keys.queue("default", "leases")) == 0
    finally:
        await client.aclose()


async def test_a_job_a_claim_sets_aside_keeps_its_due_time(redis_backend: RedisBackend) -> None:
    """The claim reads due jobs without their scores and asks for one only when it sets a
    job aside: the held sets still order it by its due time."""
    first, second = (new_job(limit_key="k", limit_max=1) for _ in range(2))
    await redis_backend.enqueue([first])
    assert [r.id for r in await redis_backend.claim(["default"], 5, "w", 30)] == [first.id]
    await redis_backend.enqueue([second])
    assert await redis_backend.claim(["default"], 5, "w", 30) == []  # set aside: k is full
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    keys = redis_backend.keys
    try:
        run_at = int(await client.hget(keys.job("default", second.id), "run_at") or 0)
        assert await client.hget(keys.job("default", second.id), "held") == "limit"
        assert await client.zscore(keys.queue("default", "held"), second.id) == run_at
        level = keys.queue("default", f"held:limit:{second.priority}:k")
        assert await client.zscore(level, second.id) == run_at
    finally:
        await client.aclose()


async def test_one_finish_hands_each_outcome_its_own_data(redis_backend: RedisBackend) -> None:
    """finish.lua gets the outcomes' data in one argument, cut by the lengths in its
    header: each job stores exactly its own, whatever the kinds, lengths and bytes, and
    whichever of two queues it is on."""
    jobs = [new_job(queue=q, max_attempts=3) for q in ("default", "other") for _ in range(6)]
    await redis_backend.enqueue(jobs)
    claimed = {
        r.id: r for q in ("default", "other") for r in await redis_backend.claim([q], 6, "w", 30)
    }
    data = [b'"\xc3\xa9t\xc3\xa9"', b"", b'{"type":"E","message":"x\\ny"}', b"\x00\xff", b"1"]
    kinds = [OutcomeKind.SUCCEEDED, OutcomeKind.SUCCEEDED, OutcomeKind.FAILED,
             OutcomeKind.SUCCEEDED, OutcomeKind.RETRY, OutcomeKind.FAILED]  # fmt: skip
    outcomes = []
    for n, job in enumerate(jobs):
        kind, blob = kinds[n % 6], data[n % 5]
        result, error = (blob, None) if kind is OutcomeKind.SUCCEEDED else (None, blob)
        attempt = claimed[job.id].attempt
        outcomes.append(Outcome(job.id, attempt, kind, result, error, queue=job.queue, ttl=60))
    assert await redis_backend.finish(outcomes) == [True] * len(jobs)
    records = await redis_backend.get([job.id for job in jobs])
    for outcome, record in zip(outcomes, records, strict=True):
        assert record is not None
        if outcome.kind is OutcomeKind.SUCCEEDED:
            assert record.result == outcome.result
        else:  # failed, or a retry, which keeps its error on the job (and in its history)
            assert record.error == outcome.error


async def test_claim_and_finish_read_a_plain_job_short_and_any_other_whole(
    redis_backend: RedisBackend,
) -> None:
    """claim.lua reads 6 fields of a hash with no more fields than every job has
    (PLAIN_JOB_FIELDS: a job never claimed, with no optional field), all 15 of any other;
    finish.lua 4 of a running job with no more than those and the claim's
    (PLAIN_RUNNING_FIELDS), all 7 of any other. The counts must be what store.lua and the
    claim write for a plain job, and one optional field must be enough for a whole read."""
    lua = files("taskrunner_redis").joinpath("lua/common.lua").read_text()
    plain_fields = re.search(r"local PLAIN_JOB_FIELDS = (\d+)", lua)
    claim_adds = re.search(r"local PLAIN_RUNNING_FIELDS = PLAIN_JOB_FIELDS \+ (\d+)", lua)
    assert plain_fields is not None and claim_adds is not None
    done = new_job()
    await redis_backend.enqueue([done])
    (record,) = await redis_backend.claim(["default"], 1, "w", 30)
    await redis_backend.finish([Outcome(done.id, record.attempt, OutcomeKind.SUCCEEDED)])
    batch = NewBatch(new_job_id())
    await redis_backend.open_batch(batch)
    plain = new_job()
    singles = {  # one optional field each, named as the claimed record names it
        "key": new_job(key="k"),
        "limit_key": new_job(limit_key="l", limit_max=1),
        "rate_key": new_job(rate_key="r", rate_max=5, rate_per=60.0),
        "batch_id": new_job(batch_id=batch.id),
        "after": new_job(after=(done.id,)),  # met already: queued
    }
    behind = new_job(limit_key="l", limit_max=1)  # set aside until the first one ends
    await redis_backend.enqueue([plain, *singles.values(), behind])
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    keys = redis_backend.keys
    try:
        assert await client.hlen(keys.job("default", plain.id)) == int(plain_fields.group(1))
        claimed = {r.id: r for r in await redis_backend.claim(["default"], 10, "w", 30)}
        assert len(claimed) == 6
        running = int(plain_fields.group(1)) + int(claim_adds.group(1))
        assert await client.hlen(keys.job("default", plain.id)) == running
        for field, job in singles.items():
            assert getattr(claimed[job.id], field) == getattr(job, field), field
        short = claimed[plain.id]
        assert (short.task, short.payload, short.attempt) == (plain.task, plain.payload, 1)
        assert (short.key, short.limit_key, short.rate_key, short.batch_id, short.after) == (
            None,
            None,
            None,
            None,
            (),
        )
        outcomes = [
            Outcome(r.id, r.attempt, OutcomeKind.SUCCEEDED, ttl=60) for r in claimed.values()
        ]
        assert await redis_backend.finish(outcomes) == [True] * 6
        # finish read the key and the limit key: the dedup key expires, the slot is free
        assert await client.ttl(keys.queue("default", "key:k")) > 0
        assert [r.id for r in await redis_backend.claim(["default"], 10, "w", 30)] == [behind.id]
    finally:
        await client.aclose()


async def test_a_claim_adds_its_leases_last_claimed_first(redis_backend: RedisBackend) -> None:
    """claim.lua writes a run's leases (one score: now + lease) in one ZADD, the last job
    claimed first, so each lands at the head of the run's leases in a small (listpack)
    set after one comparison; every claimed job is leased, at its exact lease end, beside
    the leases of an earlier run."""
    earlier = new_job()
    await redis_backend.enqueue([earlier])
    (first,) = await redis_backend.claim(["default"], 1, "w", 30)
    jobs = [new_job() for _ in range(5)]
    await redis_backend.enqueue(jobs)
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    watcher = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    leases = redis_backend.keys.queue("default", "leases")
    try:
        async with watcher.monitor() as monitor:
            claimed = await redis_backend.claim(["default"], 5, "w", LEASE_US / 1_000_000)
            while True:  # the server's other clients' commands pass by too
                command = (await asyncio.wait_for(monitor.next_command(), 10))["command"]
                if command.startswith(f"ZADD {leases} "):
                    break
        order = [r.id for r in claimed]
        assert order == sorted(order) == [job.id for job in jobs]
        added = command.split()[2:]
        assert added[1::2] == order[::-1]
        lease_until = await client.hget(redis_backend.keys.job("default", order[0]), "lease_until")
        until = int(lease_until or 0)
        assert added[0::2] == [str(until)] * 5
        held = await client.zrange(leases, 0, -1, withscores=True)
        assert held == [(first.id, held[0][1]), *((i, until) for i in order)]
    finally:
        await watcher.aclose()
        await client.aclose()


async def test_a_finished_job_stores_its_data_and_retention_as_given(
    redis_backend: RedisBackend,
) -> None:
    """finish_job (common.lua) writes a finished job's fields in one HSET per case: with
    or without data (a result, an error, a cancel's reason), with or without a retention;
    a run that finishes several jobs writes each its own (the job key it names last is
    kept for the call)."""
    jobs = [new_job() for _ in range(4)]
    await redis_backend.enqueue(jobs)
    claimed = await redis_backend.claim(["default"], 4, "w", 30)
    assert [r.id for r in claimed] == [job.id for job in jobs]
    cancelled, failed = OutcomeKind.CANCELLED, OutcomeKind.FAILED
    outcomes = [
        Outcome(jobs[0].id, 1, OutcomeKind.SUCCEEDED, result=b"r", ttl=60),
        Outcome(jobs[1].id, 1, failed, error=b'{"type":"E","message":"m"}'),
        Outcome(jobs[2].id, 1, cancelled, ttl=60),
        Outcome(jobs[3].id, 1, cancelled),
    ]
    assert await redis_backend.finish(outcomes) == [True] * 4
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    keys = redis_backend.keys
    try:
        stored = [await client.hgetall(keys.job("default", job.id)) for job in jobs]
        states = ["succeeded", "failed", "cancelled", "cancelled"]
        assert [f["state"] for f in stored] == states
        assert stored[0]["result"] == "r" and "error" not in stored[0]
        assert stored[1]["error"] == '{"type":"E","message":"m"}'
        assert "error" not in stored[2] and "error" not in stored[3]
        kept_all = [True, False, True, False]
        for job, state, fields, kept in zip(jobs, states, stored, kept_all, strict=True):
            retained = keys.queue("default", f"done:{state}")
            expected = int(fields["finished_at"]) + 60_000_000 if kept else float("inf")
            assert ("expires_at" in fields) is kept
            assert await client.zscore(retained, job.id) == expected
            assert (await client.ttl(keys.job("default", job.id)) > 0) is kept
    finally:
        await client.aclose()


async def test_a_cancel_request_of_an_attempt_put_back_does_not_reach_the_next(
    redis_backend: RedisBackend,
) -> None:
    """A plain job's claim writes no cancel flag (it never had one); a job claimed again
    after its worker died with a cancel request pending is claimed with the flag cleared,
    so its next attempt is not stopped at its first heartbeat."""
    job = new_job()
    await redis_backend.enqueue([job])
    (first,) = await redis_backend.claim(["default"], 1, "w1", 0.05)
    assert await redis_backend.cancel([job.id], None) == ["running"]
    beat = [Beat(job.id, first.attempt)]
    assert await redis_backend.heartbeat(beat, 0.05) == [LeaseStatus.CANCEL]
    await asyncio.sleep(0.1)  # w1 is gone: its lease runs out
    assert await redis_backend.reclaim() == [job.id]
    (second,) = await redis_backend.claim(["default"], 1, "w2", 30)
    assert second.attempt == first.attempt + 1
    again = [Beat(job.id, second.attempt)]
    assert await redis_backend.heartbeat(again, 30) == [LeaseStatus.HELD]
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        assert await client.hget(redis_backend.keys.job("default", job.id), "cancel") == "0"
    finally:
        await client.aclose()
