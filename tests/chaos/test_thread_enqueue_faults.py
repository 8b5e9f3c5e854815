"""Blocking enqueues from the threads of a sync app while the backend fails under them
(`tests/chaos/targets.py`: Redis restarted, then stopped for a while; Postgres's
connections cut, then its inserts refused for a while; SQLite's write lock held). The
threads' calls share backend calls (`taskrunner._handover`, the coalescer), so a fault
strikes several callers at once; each must still get its own answer:

- every call returns, its job stored, or raises a `TaskrunnerError` of its own; none hangs,
  and nothing else escapes;
- a job whose call returned is there, and runs once;
- a job whose call raised runs at most once (the fault may have struck after it was
  stored), and no other job runs.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import pytest

from taskrunner import TaskRunner, TaskrunnerError, current_job
from tests.chaos.targets import Target
from tests.helpers import eventually, finished

THREADS = 8
FAULTS = 2
OUTAGE = 2.5  # seconds: longer than the Redis client's retries of a shared call and then alone
TASK = "chaos.noted"
pytestmark = pytest.mark.slow


def noting_runner(url: str, runs: Counter[str]) -> TaskRunner:
    """A runner whose one task, TASK, counts its runs per job in `runs`."""
    runner = TaskRunner(url)

    @runner.task(name=TASK)
    async def noted(n: int) -> int:
        runs[current_job().id] += 1
        return n

    return runner


@dataclass
class Calls:
    """What the threads' calls answered: the jobs stored, the jobs whose call raised, and
    anything else a call let out."""

    stored: list[str] = field(default_factory=list)
    refused: dict[str, TaskrunnerError] = field(default_factory=dict)
    escaped: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enqueue_until(self, runner: TaskRunner, stop: threading.Event) -> None:
        """A request thread's loop: one blocking enqueue after the other until `stop`; after
        an error it waits a moment, as an app that retries would."""
        task = runner.tasks[TASK]
        n = 0
        while not stop.is_set():
            prepared = task.prepare(n)
            n += 1
            try:
                runner.enqueue_many_sync([prepared])
            except TaskrunnerError as exc:
                with self.lock:
                    self.refused[prepared.new.id] = exc
                stop.wait(0.01)
            except BaseException as exc:
                with self.lock:
                    self.escaped.append(exc)
                return
            else:
                with self.lock:
                    self.stored.append(prepared.new.id)


async def test_each_blocking_enqueue_gets_its_own_answer_through_faults(
    target: Target,
) -> None:
    calls = Calls()
    stop = threading.Event()
    enqueuer = noting_runner(target.struck_url, Counter())  # its own loop, in a thread
    threads = [
        threading.Thread(target=calls.enqueue_until, args=(enqueuer, stop)) for _ in range(THREADS)
    ]
    faults = []
    try:
        for thread in threads:
            thread.start()
        for _ in range(FAULTS):
            await anyio.sleep(0.3)
            faults.append(await target.disrupt())
            await anyio.sleep(0.3)
            faults.append(await target.outage(OUTAGE))
        await anyio.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            await anyio.to_thread.run_sync(thread.join, 60)
        await anyio.to_thread.run_sync(enqueuer.close_sync)
    assert not any(thread.is_alive() for thread in threads), "a blocking enqueue hangs"
    assert calls.escaped == []
    print(f"{len(calls.stored)} stored, {len(calls.refused)} refused; {faults}")
    assert calls.stored, "no enqueue got through"
    if not target.url.startswith("sqlite"):  # (SQLite's callers wait for its lock)
        assert calls.refused, "no call met the outage: its errors went untested"

    runs: Counter[str] = Counter()
    checker = noting_runner(target.url, runs)
    try:
        asked = calls.stored + list(calls.refused)
        found = [
            info.id
            for start in range(0, len(asked), 500)
            for info in await checker.get_jobs(asked[start : start + 500])
            if info is not None
        ]
        assert set(calls.stored) <= set(found), "a job whose enqueue returned is missing"
        async with checker.worker(concurrency=50):
            await eventually(lambda: finished(checker, len(found)), 120)
    finally:
        await checker.close()
    assert set(runs) == set(found)
    assert set(runs.values()) == {1}
