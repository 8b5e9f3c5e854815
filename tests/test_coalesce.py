"""Concurrent enqueues share backend calls (taskrunner._coalesce), on every backend: each
caller gets its own jobs' ids, or its own error, and a cancelled caller's jobs are not
stored. The same for blocking enqueues from many threads (taskrunner._handover)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import CancelledError as FutureCancelled
from typing import Any

import pytest

from taskrunner import ConfigurationError, Job, JobState, Task, TaskRunner
from taskrunner.backend import NewJob
from tests.helpers import connected_in_a_thread, eventually, free_port, until

Store = Callable[[Sequence[NewJob]], Awaitable[list[str]]]


class Gate:
    """Wraps a backend's `enqueue`: counts its calls and their sizes, holds the first `hold`
    calls until opened (so that others arrive while they are in flight), and refuses jobs
    whose first argument is "bad" as a backend would refuse a whole call."""

    def __init__(self, store: Store, hold: int = 1) -> None:
        self.store = store
        self.hold = hold
        self.calls: list[int] = []
        self.opened = asyncio.Event()

    async def __call__(self, jobs: Sequence[NewJob], connection: object = None) -> list[str]:
        self.calls.append(len(jobs))
        if len(self.calls) <= self.hold:
            await self.opened.wait()
        if any(b'"bad"' in job.payload for job in jobs):
            raise ConnectionError(f"refused a call of {len(jobs)} jobs")
        return await self.store(jobs)


def with_tasks(runner: TaskRunner) -> None:
    @runner.task(name="coalesce.echo")
    async def echo(value: str) -> str:
        return value


async def held_first(
    runner: TaskRunner, value: str
) -> tuple[Task[..., Any], Gate, asyncio.Task[Job[Any]]]:
    """The echo task, the gate on the backend, and a first enqueue in flight, held there."""
    with_tasks(runner)
    echo = runner.tasks["coalesce.echo"]
    gate = await gated(runner)
    first = asyncio.create_task(echo.enqueue(value))
    await eventually(lambda: bool(gate.calls))
    return echo, gate, first


def waiting(runner: TaskRunner) -> int:
    """How many enqueue calls wait for the backend call in flight."""
    coalescer = runner._enqueues._coalescer
    return 0 if coalescer is None else coalescer.waiting


async def gated(runner: TaskRunner, lanes: int = 1, hold: int = 1) -> Gate:
    """A gate on the runner's backend, which takes `lanes` shared calls at once (one for
    the calls' shapes below; Postgres takes 2 of its own, see `ConcurrentEnqueues`)."""
    backend = await runner.connected()
    return gate_on(backend, lanes, hold)


def gate_on(backend: Any, lanes: int = 1, hold: int = 1) -> Gate:
    gate = Gate(backend.enqueue, hold)
    backend.enqueue = gate
    backend.enqueue_lanes = lanes
    return gate


async def test_concurrent_enqueues_share_one_call_and_get_their_own_ids(
    each_backend_runner: TaskRunner,
) -> None:
    runner = each_backend_runner
    echo, gate, first = await held_first(runner, "v0")
    others = [asyncio.create_task(echo.enqueue(f"v{n}")) for n in range(1, 100)]
    await eventually(lambda: waiting(runner) == 99)
    gate.opened.set()
    jobs = [await first, *[await task for task in others]]
    assert gate.calls == [1, 99]  # the first alone, the 99 that came meanwhile in one call
    assert len({job.id for job in jobs}) == 100
    infos = await runner.get_jobs([job.id for job in jobs])
    assert [info and info.args for info in infos] == [[f"v{n}"] for n in range(100)]
    assert all(info and info.state is JobState.QUEUED for info in infos)
    # free again: the next lone enqueue goes straight to the backend
    await echo.enqueue("alone")
    assert gate.calls == [1, 99, 1]


async def test_a_refused_shared_call_gives_each_caller_its_own_answer(
    each_backend_runner: TaskRunner,
) -> None:
    runner = each_backend_runner
    echo, gate, first = await held_first(runner, "first")
    good = [asyncio.create_task(echo.enqueue(f"good{n}")) for n in range(3)]
    bad = asyncio.create_task(echo.enqueue("bad"))
    await eventually(lambda: waiting(runner) == 4)
    gate.opened.set()
    await first
    stored = [await task for task in good]
    with pytest.raises(ConnectionError, match="refused a call of 1 jobs"):
        await bad
    # the shared call of 4 was refused; each was then stored (or refused) on its own
    assert gate.calls == [1, 4, 1, 1, 1, 1]
    assert [info and info.args for info in await runner.get_jobs([j.id for j in stored])] == [
        ["good0"],
        ["good1"],
        ["good2"],
    ]
    assert (await runner.stats())["default"][JobState.QUEUED] == 4  # first and the three good ones


async def test_a_caller_cancelled_while_it_waits_stores_nothing(
    each_backend_runner: TaskRunner,
) -> None:
    runner = each_backend_runner
    echo, gate, first = await held_first(runner, "first")
    kept = asyncio.create_task(echo.enqueue("kept"))
    dropped = asyncio.create_task(echo.enqueue("dropped"))
    await eventually(lambda: waiting(runner) == 2)
    dropped.cancel()
    gate.opened.set()
    await first
    job = await kept
    assert dropped.cancelled()
    assert gate.calls == [1, 1]  # the cancelled caller's job never went
    assert (await runner.get_job(job.id)).args == ["kept"]
    assert (await runner.stats())["default"][JobState.QUEUED] == 2


async def test_enqueues_in_a_transaction_or_with_dependencies_go_alone(
    each_backend_runner: TaskRunner,
) -> None:
    runner = each_backend_runner
    echo, gate, first = await held_first(runner, "first")
    gate.opened.set()
    first_job = await first
    # with `after=`, a call is never shared (its dependency's error is its own)
    dependent = await echo.options(after=[first_job]).enqueue("then")
    assert gate.calls == [1, 1]
    assert (await runner.get_job(dependent.id)).state is JobState.WAITING


def test_enqueue_sync_from_eight_threads_stores_every_job(shared_url: str) -> None:
    runner = TaskRunner(shared_url)
    with_tasks(runner)
    echo = runner.tasks["coalesce.echo"]
    ids: list[str] = []
    lock = threading.Lock()

    def produce(thread: int) -> None:
        for n in range(25):
            job = echo.enqueue_sync(f"t{thread}-{n}")
            with lock:
                ids.append(job.id)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(set(ids)) == 200
    assert runner.call_sync(runner.stats)["default"][JobState.QUEUED] == 200
    runner.close_sync()


async def test_callers_enqueueing_in_turn_share_every_call_after_the_first(
    each_backend_runner: TaskRunner,
) -> None:
    # 8 request handlers, each enqueueing one job after another: once the first lone call is
    # in flight, the calls carry every caller's next job, not one job and seven by turns
    runner = each_backend_runner
    echo, gate, first = await held_first(runner, "first")

    async def handler(n: int) -> None:
        for m in range(5):
            await echo.enqueue(f"h{n}-{m}")

    handlers = [asyncio.create_task(handler(n)) for n in range(8)]
    await eventually(lambda: waiting(runner) == 8)
    gate.opened.set()
    await first
    await asyncio.gather(*handlers)
    assert gate.calls == [1, 8, 8, 8, 8, 8]
    assert (await runner.stats())["default"][JobState.QUEUED] == 41


# -- blocking enqueues from threads (taskrunner._handover) ---------------------------------


class Threads:
    """Threads of a sync app, each making one `enqueue_sync` call: what each got back."""

    def __init__(self, echo: Task[..., Any]) -> None:
        self.echo = echo
        self.answers: dict[str, Job[Any] | BaseException] = {}
        self.threads: list[threading.Thread] = []

    def start(self, name: str, value: str) -> None:
        def call() -> None:
            try:
                self.answers[name] = self.echo.enqueue_sync(value)
            except BaseException as exc:
                self.answers[name] = exc

        thread = threading.Thread(target=call)
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in self.threads)


def gated_in_a_thread(runner: TaskRunner) -> tuple[Gate, Threads]:
    """On a runner connected in a thread of its own: a gate on its backend, and a first
    thread's enqueue held there."""
    gate = gate_on(runner.backend)
    threads = Threads(runner.tasks["coalesce.echo"])
    threads.start("first", "first")
    until(lambda: gate.calls == [1])
    return gate, threads


def opened(runner: TaskRunner, gate: Gate) -> None:
    assert runner._loop is not None
    runner._loop.call_soon_threadsafe(gate.opened.set)


def behind_a_held_call(runner: TaskRunner, calls: dict[str, str]) -> tuple[Gate, Threads]:
    """With a first thread's enqueue held in the backend, a thread per entry of `calls`
    (its name: the value it enqueues); once they all wait, the gate opens. Answers once
    every thread has its answer."""
    gate, threads = gated_in_a_thread(runner)
    for name, value in calls.items():
        threads.start(name, value)
    until(lambda: waiting(runner) == len(calls))
    opened(runner, gate)
    threads.join()
    return gate, threads


def test_threads_calling_while_a_call_is_in_flight_share_the_next(shared_url: str) -> None:
    runner = TaskRunner(shared_url)
    with_tasks(runner)
    with connected_in_a_thread(runner):
        gate, threads = behind_a_held_call(runner, {f"t{n}": f"t{n}" for n in range(8)})
        assert gate.calls == [1, 8]
        assert len(threads.answers) == 9
        for name, job in threads.answers.items():
            assert isinstance(job, Job) and not job.duplicate
            assert runner.get_job_sync(job.id).args == [name]


def test_a_refused_shared_call_gives_each_thread_its_own_answer(shared_url: str) -> None:
    runner = TaskRunner(shared_url)
    with_tasks(runner)
    calls = {f"good{n}": f"good{n}" for n in range(6)} | {f"bad{n}": "bad" for n in range(2)}
    with connected_in_a_thread(runner):
        gate, threads = behind_a_held_call(runner, calls)
        # the shared call of 8 failed: each job went again alone, and only "bad" failed
        assert gate.calls == [1, 8, 1, 1, 1, 1, 1, 1, 1, 1]
        refused = {name for name, answer in threads.answers.items() if not isinstance(answer, Job)}
        assert refused == {"bad0", "bad1"}
        assert all(isinstance(threads.answers[name], ConnectionError) for name in refused)
        assert runner.call_sync(runner.stats)["default"][JobState.QUEUED] == 7


def test_a_thread_interrupted_while_it_waits_stores_nothing(shared_url: str) -> None:
    runner = TaskRunner(shared_url)
    with_tasks(runner)
    echo = runner.tasks["coalesce.echo"]
    with connected_in_a_thread(runner):
        gate, threads = gated_in_a_thread(runner)
        main = threading.main_thread().ident
        assert main == threading.get_ident()  # the test's thread is the one Ctrl-C reaches

        def ctrl_c() -> None:
            until(lambda: waiting(runner) == 1)
            signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=ctrl_c).start()
        with pytest.raises(KeyboardInterrupt):
            echo.enqueue_sync("interrupted")
        opened(runner, gate)  # after the interrupted call was taken out (the loop's order)
        threads.join()
        until(lambda: waiting(runner) == 0)
        assert gate.calls == [1]
        assert runner.call_sync(runner.stats)["default"][JobState.QUEUED] == 1


def test_each_thread_gets_the_error_of_a_backend_it_cannot_reach() -> None:
    port = free_port()
    runner = TaskRunner(f"redis://127.0.0.1:{port}/0")
    with_tasks(runner)
    threads = Threads(runner.tasks["coalesce.echo"])
    for n in range(3):
        threads.start(f"t{n}", f"t{n}")
    threads.join()
    errors = list(threads.answers.values())
    assert len(errors) == 3
    assert all(isinstance(error, Exception) and str(port) in str(error) for error in errors)
    runner.close_sync()


def test_enqueue_many_sync_with_a_connection_says_what_cannot_be_done() -> None:
    runner = TaskRunner("memory://")
    with_tasks(runner)
    echo = runner.tasks["coalesce.echo"]
    with connected_in_a_thread(runner):
        with pytest.raises(ConfigurationError, match="connection= works with the Postgres"):
            runner.enqueue_many_sync([echo.prepare("x")], connection=object())
        (job,) = runner.enqueue_many_sync([echo.prepare("y")])
        assert runner.get_job_sync(job.id).args == ["y"]


async def on_two_lanes(runner: TaskRunner) -> tuple[Task[..., Any], Gate]:
    """The echo task, and a gate that holds the first two calls on the runner's backend,
    made to take two shared calls at once."""
    with_tasks(runner)
    return runner.tasks["coalesce.echo"], await gated(runner, lanes=2, hold=2)


async def test_a_backend_taking_two_calls_at_once_sends_the_waiting_beside_the_first(
    each_backend_runner: TaskRunner,
) -> None:
    # Postgres's two lanes (each call waits for its own commit), on any backend: while the
    # first call is in flight, the calls that arrived go in a second call at once; with
    # both lanes busy, the next caller waits for one of them
    runner = each_backend_runner
    echo, gate = await on_two_lanes(runner)
    first = asyncio.create_task(echo.enqueue("first"))
    await eventually(lambda: gate.calls == [1])
    beside = [asyncio.create_task(echo.enqueue(f"b{n}")) for n in range(4)]
    await eventually(lambda: gate.calls == [1, 4])
    last = asyncio.create_task(echo.enqueue("last"))
    await eventually(lambda: waiting(runner) == 1)
    assert gate.calls == [1, 4]
    gate.opened.set()
    jobs = await asyncio.gather(first, *beside, last)
    assert gate.calls == [1, 4, 1]
    assert len({job.id for job in jobs}) == 6
    assert (await runner.stats())["default"][JobState.QUEUED] == 6


async def test_a_big_call_in_flight_keeps_the_second_lane_closed(
    each_backend_runner: TaskRunner,
) -> None:
    # a call of many jobs keeps the server busy: a second call beside it would only split
    # the next one, so the callers that arrive wait for it to end
    runner = each_backend_runner
    echo, gate = await on_two_lanes(runner)
    big = asyncio.create_task(runner.enqueue_many([echo.prepare(f"m{n}") for n in range(20)]))
    await eventually(lambda: gate.calls == [20])
    later = [asyncio.create_task(echo.enqueue(f"l{n}")) for n in range(4)]
    await eventually(lambda: waiting(runner) == 4)
    await asyncio.sleep(0.05)  # a second lane would have taken them by now
    assert gate.calls == [20]
    gate.opened.set()
    await asyncio.gather(big, *later)
    assert gate.calls == [20, 4]


def test_threads_waiting_when_the_loop_ends_are_told_so() -> None:
    # the loop a sync app's calls run on ends (at exit, or an async app shutting down) with
    # one thread's call in flight and another's waiting: both wake, cancelled, not stuck
    runner = TaskRunner("memory://")
    with_tasks(runner)
    with connected_in_a_thread(runner):
        _, threads = gated_in_a_thread(runner)
        threads.start("second", "second")
        until(lambda: waiting(runner) == 1)
    threads.join()
    assert set(threads.answers) == {"first", "second"}
    assert all(isinstance(answer, FutureCancelled) for answer in threads.answers.values())
