"""The machine's own limits on Redis and Postgres, through the client libraries the job
libraries use (run with taskrunner's python, which has redis-py and asyncpg):

- Redis: redis-py's asyncio client sending `PING` and awaiting each answer, one after the
  other (the bare round trip no awaited enqueue can beat), and Redis's own ceiling for a
  function call that does nothing: 1,000,000 / its `usec_per_call` in `INFO commandstats`
  (the server's time alone, no network, no client).
- Postgres: asyncpg inserting one row and committing, one after the other (a bare durable
  commit: the bound of one awaited enqueue that stores its job durably).
- Both: 8 threads, each blocking until one other thread answers its call (a lock that
  thread releases), calling again at once: CPython's ceiling for blocking calls that one
  event loop's thread answers (the sync workload's enqueues from 8 threads), no I/O at all.

Usage: `limits_probe.py bench SPEC_JSON` with the spec's backend, url and n; it answers one
`@@bench` result line as the adapters do."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import uuid
from typing import Any

from kit.protocol import Spec, emit

NOOP_LIBRARY = (
    "#!lua name=taskrunner_bench_limits\n"
    "redis.register_function('trbench_noop', function() return 0 end)"
)


async def redis_limits(url: str, n: int) -> dict[str, float]:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        for _ in range(100):  # connect and warm up
            await client.ping()
        start = time.perf_counter()
        for _ in range(n):
            await client.ping()
        ping_rate = n / (time.perf_counter() - start)
        await client.function_load(NOOP_LIBRARY, replace=True)
        try:
            before = await _fcall_stats(client)
            for _ in range(n):
                await client.fcall("trbench_noop", 0)
            after = await _fcall_stats(client)
        finally:
            await client.function_delete("taskrunner_bench_limits")
    finally:
        await client.aclose()
    # deltas, not a CONFIG RESETSTAT: other clients' counts are left alone
    usec = (after[1] - before[1]) / max(after[0] - before[0], 1)
    return {"ping": ping_rate, "noop_function": 1_000_000 / usec if usec else 0.0}


async def _fcall_stats(client: Any) -> tuple[int, int]:
    """How many FCALLs Redis has run, and the microseconds they took, since its last reset."""
    stats = (await client.info("commandstats")).get("cmdstat_fcall", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


async def postgres_limits(url: str, n: int) -> dict[str, float]:
    import asyncpg

    schema = f"bench_limits_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"CREATE TABLE {schema}.t (id bigserial PRIMARY KEY, payload bytea)")
        insert = f"INSERT INTO {schema}.t (payload) VALUES ($1)"
        for _ in range(50):
            await conn.execute(insert, b"x" * 40)
        start = time.perf_counter()
        for _ in range(n):
            await conn.execute(insert, b"x" * 40)  # outside a transaction: one commit each
        rate = n / (time.perf_counter() - start)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
    return {"bare_insert_commit": rate}


HANDOFF_THREADS = 8


def thread_handoffs(n: int) -> float:
    """Calls a second of `HANDOFF_THREADS` threads, each blocking on a lock of its own that
    one answering thread releases, taking every call listed since its last turn at once."""
    listed: list[threading.Lock] = []
    guard = threading.Lock()
    pending = threading.Semaphore(0)
    stop = False

    def answer() -> None:
        while True:
            pending.acquire()
            with guard:
                calls = listed[:]
                listed.clear()
            for call in calls:
                call.release()
            if stop:
                return

    def caller() -> None:
        for _ in range(n // HANDOFF_THREADS):
            call = threading.Lock()
            call.acquire()
            with guard:
                listed.append(call)
            pending.release()
            call.acquire()

    answering = threading.Thread(target=answer)
    answering.start()
    callers = [threading.Thread(target=caller) for _ in range(HANDOFF_THREADS)]
    start = time.perf_counter()
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    rate = n // HANDOFF_THREADS * HANDOFF_THREADS / (time.perf_counter() - start)
    stop = True
    pending.release()
    answering.join()
    return rate


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] != "bench":
        sys.exit("usage: limits_probe.py bench SPEC_JSON")
    spec = Spec.from_json(sys.argv[2])
    try:
        if spec.backend == "redis":
            figures = asyncio.run(redis_limits(spec.url, spec.n))
        elif spec.backend == "postgres":
            figures = asyncio.run(postgres_limits(spec.url, spec.n))
        else:
            figures = {}
        if figures:
            figures["thread_handoff"] = thread_handoffs(spec.n * 2)
    except Exception as error:  # reported to the orchestrator, not raised
        emit("result", error=f"{type(error).__name__}: {error}")
        return
    emit("result", figures=figures)


if __name__ == "__main__":
    main()
