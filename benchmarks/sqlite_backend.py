"""The SQLite backend against the machine's own limits, taskrunner only (no peer runs on
SQLite here yet):

    uv run benchmarks/sqlite_backend.py [--n 2000] [--rounds 3] [--folder /tmp]

- `bare commit`: `BEGIN IMMEDIATE; INSERT; COMMIT` from Python's sqlite3 in a loop, with
  `synchronous=FULL` (the limit of a durable single enqueue on this disk).
- `thread hop`: one `run_in_executor` round trip to a dedicated thread (what a driver that
  sends each statement to its thread, as aiosqlite does, pays per statement).
- `enqueue (awaited, one job)`: `SqliteBackend.enqueue` of one job at a time, awaited.
- the same enqueue's statements sent to the thread one by one, as a per-statement async
  driver (aiosqlite) would, on `synchronous=normal` where the disk does not hide the cost.
- `enqueue (1000 per call)`: bulk enqueue.
- `claim + finish (one job)`: the hot path of a worker that takes one job at a time.
- `noop drain`: `taskrunner run` worker processes (one, then three) that finish a queue of
  noop jobs enqueued in bulk while they were idle.
- `pickup`: a worker process idle in `wait()`; the time from an enqueue's commit (the
  job's `enqueued_at`) to its claim (`started_at`), both read on the machine's one clock.

Each figure is the median of `--rounds` runs; the machine may be shared: repeat and compare
ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.limits import bare_commits

from taskrunner import TaskRunner
from taskrunner.backend import JobRecord, JobState, NewJob, Outcome, OutcomeKind, new_job_id
from taskrunner_sqlite import SqliteBackend
from taskrunner_sqlite.queries import sql


def job(n: int = 0) -> NewJob:
    return NewJob(new_job_id(), "bench.noop", "default", b'{"args":[%d]}' % n, max_attempts=3)


async def thread_hops(n: int) -> float:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as thread:
        start = time.perf_counter()
        for _ in range(n):
            await loop.run_in_executor(thread, int)
        return (time.perf_counter() - start) / n * 1e6  # microseconds per hop


async def on_backend(url: str, work: Callable[[SqliteBackend], Awaitable[float]]) -> float:
    backend = SqliteBackend(url)
    await backend.connect()
    try:
        return await work(backend)
    finally:
        await backend.close()


def single_enqueues(n: int) -> Callable[[SqliteBackend], Awaitable[float]]:
    async def work(backend: SqliteBackend) -> float:
        start = time.perf_counter()
        for i in range(n):
            await backend.enqueue([job(i)])
        return n / (time.perf_counter() - start)

    return work


def per_statement_enqueues(n: int) -> Callable[[SqliteBackend], Awaitable[float]]:
    """The backend's enqueue statements, each sent to the connection's thread on its own
    (one round trip per statement, as a per-statement async driver does)."""

    async def work(backend: SqliteBackend) -> float:
        loop = asyncio.get_running_loop()
        conn = sqlite3.connect(backend.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA synchronous = {backend.settings.synchronous}")
        try:
            with ThreadPoolExecutor(1) as thread:

                async def call(statement: str, *args: object) -> object:
                    return await loop.run_in_executor(
                        thread, lambda: conn.execute(statement, args).fetchall()
                    )

                start = time.perf_counter()
                for i in range(n):
                    new, now = job(i), time.time()
                    await call("BEGIN IMMEDIATE")
                    await call(sql("job_expiry"), new.id)
                    await call(sql("insert_job"), new.id, new.task, new.queue, new.payload,
                               "queued", 0, 3, now, now, None, None, 0, None, 0, 0.0,
                               None, None, False, None)  # fmt: skip
                    await call(sql("next_ended"))  # every write judges dependents
                    await call(sql("unsettled_batches"))  # and settles batches
                    await call("COMMIT")
                return n / (time.perf_counter() - start)
        finally:
            conn.close()

    return work


def bulk_enqueues(n: int) -> Callable[[SqliteBackend], Awaitable[float]]:
    async def work(backend: SqliteBackend) -> float:
        batches = [[job(i) for i in range(1000)] for _ in range(max(n // 1000, 1))]
        start = time.perf_counter()
        for batch in batches:
            await backend.enqueue(batch)
        return len(batches) * 1000 / (time.perf_counter() - start)

    return work


def claims(n: int) -> Callable[[SqliteBackend], Awaitable[float]]:
    async def work(backend: SqliteBackend) -> float:
        for start in range(0, n, 1000):
            await backend.enqueue([job(i) for i in range(start, min(start + 1000, n))])
        begin = time.perf_counter()
        for _ in range(n):
            (record,) = await backend.claim(["default"], 1, "bench", 30)
            await backend.finish([Outcome(record.id, record.attempt, OutcomeKind.SUCCEEDED)])
        return n / (time.perf_counter() - begin)

    return work


def idle_worker(url: str, count: int) -> None:
    """A worker process: wait, claim one, finish it, `count` times."""

    async def run() -> None:
        backend = SqliteBackend(url)
        await backend.connect()
        for _ in range(count):
            records: list[JobRecord] = []
            while not records:
                await backend.wait(["default"], 30)
                records = await backend.claim(["default"], 1, "probe", 30)
            (record,) = records
            await backend.finish([Outcome(record.id, record.attempt, OutcomeKind.SUCCEEDED)])
        await backend.close()

    asyncio.run(run())


async def pickups(url: str, count: int) -> list[float]:
    """Milliseconds from commit to claim, one job at a time, a worker process idle."""
    backend = SqliteBackend(url)
    await backend.connect()
    worker = multiprocessing.get_context("spawn").Process(target=idle_worker, args=(url, count))
    worker.start()
    await asyncio.sleep(1.5)  # the worker connects and goes idle
    ids = []
    for i in range(count):
        (job_id,) = await backend.enqueue([job(i)])
        ids.append(job_id)
        await asyncio.sleep(0.03)
    await asyncio.to_thread(worker.join, 60)
    records = await backend.get(ids)
    await backend.close()
    return [
        (r.started_at - r.enqueued_at) * 1000
        for r in records
        if r is not None and r.started_at is not None
    ]


runner = TaskRunner()  # the app of the drain's `taskrunner run` processes (TASKRUNNER_URL)


@runner.task(name="bench.noop")
async def noop(n: int) -> None:
    return None


def drain(url: str, n: int, processes: int, log: Path) -> float:
    """Jobs per second that `processes` worker processes finish, from a queue of `n` noop
    jobs enqueued while they were idle to the last one done."""
    command = [sys.executable, "-m", "taskrunner", "run", "sqlite_backend:runner", "--url", url,
               "--concurrency", "100", "--log-level", "warning"]  # fmt: skip
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": f"{here}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    asyncio.run(on_backend(url, single_enqueues(0)))  # create the file before the workers
    with log.open("ab") as out:
        procs = [
            subprocess.Popen(command, cwd=here, env=env, stdout=out, stderr=subprocess.STDOUT)
            for _ in range(processes)
        ]
    try:
        return asyncio.run(enqueue_and_wait(url, n, processes))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)


async def done(runner: TaskRunner) -> int:
    return (await runner.stats(["default"]))["default"][JobState.SUCCEEDED]


async def enqueue_and_wait(url: str, n: int, processes: int) -> float:
    async with TaskRunner(url) as producer:
        backend = producer.backend
        assert isinstance(backend, SqliteBackend)
        while len(await backend.workers()) < processes:  # noqa: ASYNC110 (they start)
            await asyncio.sleep(0.05)
        await producer.enqueue_many(noop.prepare(i) for i in range(n))
        start = time.perf_counter()
        while await done(producer) < n:  # noqa: ASYNC110 (other processes' work)
            await asyncio.sleep(0.02)
        return n / (time.perf_counter() - start)


def median_of(rounds: int, measure: Callable[[int], float]) -> float:
    return statistics.median(measure(r) for r in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", default=None, help="where the files go (the disk measured)")
    args = parser.parse_args()
    n, rounds = args.n, args.rounds
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        base = Path(folder)

        def url(r: int, name: str, options: str = "") -> str:
            return f"sqlite:///{base / f'{name}-{r}.db'}{options}"

        bare = median_of(rounds, lambda r: bare_commits(base, n))
        hop = median_of(rounds, lambda r: asyncio.run(thread_hops(n)))
        full = median_of(
            rounds, lambda r: asyncio.run(on_backend(url(r, "one"), single_enqueues(n)))
        )
        normal = median_of(
            rounds,
            lambda r: asyncio.run(
                on_backend(url(r, "normal", "?synchronous=normal"), single_enqueues(n))
            ),
        )
        hops = median_of(
            rounds,
            lambda r: asyncio.run(
                on_backend(url(r, "hops", "?synchronous=normal"), per_statement_enqueues(n))
            ),
        )
        bulk = median_of(
            rounds, lambda r: asyncio.run(on_backend(url(r, "bulk"), bulk_enqueues(n * 10)))
        )
        claim = median_of(rounds, lambda r: asyncio.run(on_backend(url(r, "claim"), claims(n))))
        latencies = asyncio.run(pickups(url(0, "pickup"), 200))

        def drain_rate(count: int) -> float:
            return median_of(
                rounds, lambda r: drain(url(r, f"drain{count}"), n * 5, count, base / "drain.log")
            )

        drains = {count: drain_rate(count) for count in (1, 3)}
    print(f"bare commit (BEGIN IMMEDIATE; INSERT; COMMIT, sync=FULL): {bare:10.0f} /s")
    print(f"thread hop (run_in_executor round trip):               {hop:10.1f} us")
    print(f"enqueue, awaited, one job (sync=FULL):                 {full:10.0f} /s"
          f"  ({full / bare:.2f} of bare)")  # fmt: skip
    print(f"enqueue, awaited, one job (sync=NORMAL):               {normal:10.0f} /s")
    print(f"  the same statements, one thread hop each (sync=NORMAL): {hops:7.0f} /s")
    print(f"enqueue, 1000 per call:                                {bulk:10.0f} /s")
    print(f"claim + finish, one job at a time:                     {claim:10.0f} /s")
    for count, rate in drains.items():
        print(f"noop drain, {count} worker process(es), concurrency 100:   {rate:10.0f} /s")
    quantiles = statistics.quantiles(latencies, n=20)
    print(f"pickup across processes, ms: p50 {statistics.median(latencies):.1f}"
          f"  p95 {quantiles[18]:.1f}  (n={len(latencies)})")  # fmt: skip


if __name__ == "__main__":
    main()
