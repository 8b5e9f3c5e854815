"""Concurrent enqueues while the backend fails under them (`tests/chaos/targets.py`: Redis
restarted, then stopped for a while; Postgres's connections cut, then its inserts refused
for a while; SQLite's write lock held), from the two kinds of callers that share backend
calls: the threads of a sync app (`enqueue_many_sync`, `taskrunner._handover`) and the
coroutines of an async web app (`enqueue_many`, the coalescer). A fault strikes several
callers at once; each must still get its own answer:

- every call returns, its job stored, or raises a `TaskrunnerError` of its own; none hangs,
  and nothing else escapes;
- a job whose call returned is there, and runs once;
- a job whose call raised runs at most once (the fault may have struck after it was
  stored), and no other job runs.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import pytest

from taskrunner import PreparedJob, TaskRunner, TaskrunnerError, current_job
from tests.chaos.targets import Target
from tests.helpers import eventually, finished, jobs_in_chunks

THREADS = 8
COROUTINES = 20
PAUSE = 0.005  # seconds a coroutine takes between its enqueues (it serves requests)
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
    """What the callers' enqueues answered: the jobs stored, the jobs whose call raised, and
    anything else a thread's call let out (a coroutine's fails the test at once)."""

    stop: threading.Event = field(default_factory=threading.Event)
    stored: list[str] = field(default_factory=list)
    refused: dict[str, TaskrunnerError] = field(default_factory=dict)
    escaped: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, job: PreparedJob[int], error: TaskrunnerError | None) -> None:
        with self.lock:
            if error is None:
                self.stored.append(job.new.id)
            else:
                self.refused[job.new.id] = error

    def jobs(self, runner: TaskRunner) -> Iterator[PreparedJob[int]]:
        """A caller's jobs, one after the other until `stop`."""
        task = runner.tasks[TASK]
        n = 0
        while not self.stop.is_set():
            yield task.prepare(n)
            n += 1

    def from_a_thread(self, runner: TaskRunner) -> None:
        """A request thread: one blocking enqueue after the other; after an error it waits a
        moment, as an app that retries would."""
        for prepared in self.jobs(runner):
            try:
                runner.enqueue_many_sync([prepared])
            except TaskrunnerError as exc:
                self.note(prepared, exc)
                self.stop.wait(0.01)
            except BaseException as exc:
                self.escaped.append(exc)
                return
            else:
                self.note(prepared, None)

    async def from_a_coroutine(self, runner: TaskRunner) -> None:
        """A web app's request handlers, one after the other in a coroutine: the same,
        awaited, with a pause between requests."""
        for prepared in self.jobs(runner):
            try:
                await runner.enqueue_many([prepared])
            except TaskrunnerError as exc:
                self.note(prepared, exc)
                await anyio.sleep(0.01)
            else:
                self.note(prepared, None)
                await anyio.sleep(PAUSE)


async def strike(target: Target) -> list[str]:
    """The faults, each after a moment of calls going through."""
    faults = []
    for _ in range(FAULTS):
        await anyio.sleep(0.3)
        faults.append(await target.disrupt())
        await anyio.sleep(0.3)
        faults.append(await target.outage(OUTAGE))
    await anyio.sleep(0.3)
    return faults


async def from_threads(target: Target, calls: Calls) -> list[str]:
    enqueuer = noting_runner(target.struck_url, Counter())  # its own loop, in a thread
    threads = [
        threading.Thread(target=calls.from_a_thread, args=(enqueuer,)) for _ in range(THREADS)
    ]
    try:
        for thread in threads:
            thread.start()
        faults = await strike(target)
    finally:
        calls.stop.set()
        for thread in threads:
            await anyio.to_thread.run_sync(thread.join, 60)
        await anyio.to_thread.run_sync(enqueuer.close_sync)
    assert not any(thread.is_alive() for thread in threads), "a blocking enqueue hangs"
    return faults


async def from_coroutines(target: Target, calls: Calls) -> list[str]:
    enqueuer = noting_runner(target.struck_url, Counter())
    try:
        async with anyio.create_task_group() as callers:
            for _ in range(COROUTINES):
                callers.start_soon(calls.from_a_coroutine, enqueuer)
            try:
                faults = await strike(target)
            finally:
                calls.stop.set()
    finally:
        await enqueuer.close()
    return faults


@pytest.mark.parametrize("callers", [from_threads, from_coroutines])
async def test_each_enqueue_gets_its_own_answer_through_faults(
    target: Target, callers: Callable[[Target, Calls], Awaitable[list[str]]]
) -> None:
    calls = Calls()
    faults = await callers(target, calls)
    assert calls.escaped == []
    print(f"{len(calls.stored)} stored, {len(calls.refused)} refused; {faults}")
    assert calls.stored, "no enqueue got through"
    if not target.url.startswith("sqlite"):  # (SQLite's callers wait for its lock)
        assert calls.refused, "no call met the outage: its errors went untested"

    runs: Counter[str] = Counter()
    checker = noting_runner(target.url, runs)
    try:
        asked = calls.stored + list(calls.refused)
        found = [info.id for info in await jobs_in_chunks(checker, asked) if info is not None]
        assert set(calls.stored) <= set(found), "a job whose enqueue returned is missing"
        async with checker.worker(concurrency=50):
            await eventually(lambda: finished(checker, len(found)), 120)
    finally:
        await checker.close()
    assert set(runs) == set(found)
    assert set(runs.values()) == {1}
