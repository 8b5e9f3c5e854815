"""Blocking calls for sync code: `enqueue_sync`, `result_sync`, `get_job_sync`... from many
threads of a sync app (Redis and Postgres), from a `def` task's thread and an async app's
threads (any backend, memory included), refused on an event loop's own thread, and safe
across a fork; the hand-off to the loop keeps the caller's context, raises the call's
errors, and wakes the caller when the loop shuts down."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import multiprocessing
import threading
from collections.abc import Iterator

import pytest

from taskrunner import ConfigurationError, JobState, TaskRunner, TaskrunnerError
from tests.helpers import connected_in_a_thread

THREADS = 8


def make_runner(url: str) -> TaskRunner:
    runner = TaskRunner(url)

    @runner.task(name="sync.add", queue="sync")
    async def add(a: int, b: int) -> int:
        return a + b

    return runner


@pytest.fixture
def worker_url(shared_url: str) -> Iterator[str]:
    """`shared_url`, with a worker of its own running in a thread (as another process would)."""
    stop = threading.Event()
    started = threading.Event()

    async def serve() -> None:
        runner = make_runner(shared_url)
        async with runner, runner.worker(concurrency=8, queues=["sync"]):
            started.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert started.wait(30)
    yield shared_url
    stop.set()
    thread.join(30)


def test_many_threads_enqueue_and_wait_on_one_pool(worker_url: str) -> None:
    runner = make_runner(worker_url)
    add = runner.tasks["sync.add"]
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            jobs = [add.enqueue_sync(n, i) for i in range(10)]
            results[n] = [job.result_sync(timeout=30) for job in jobs]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert results == {n: [n + i for i in range(10)] for n in range(THREADS)}
    own = runner._own_loop
    assert own is not None and runner._loop is own.loop  # one loop, one pool, for all
    job = add.options(delay=3600).enqueue_sync(1, 2)
    assert runner.get_job_sync(job.id).state is JobState.SCHEDULED
    assert job.info_sync().args == [1, 2]
    assert job.cancel_sync() is JobState.CANCELLED
    assert runner.retry_sync(job.id) is True  # queued again: the worker runs it
    assert job.result_sync(timeout=30) == 3
    (other,) = runner.enqueue_many_sync([add.prepare(2, 2)])
    assert other.result_sync(timeout=30) == 4
    assert runner.call_sync(runner.get_jobs, [job.id, other.id])[1] is not None
    runner.close_sync()
    assert runner._own_loop is None and not own.thread.is_alive()
    assert add.enqueue_sync(3, 3).result_sync(timeout=30) == 6  # a new loop, at need
    runner.close_sync()


def _child(url: str, answers: multiprocessing.Queue[object]) -> None:
    runner = make_runner(url)
    try:
        answers.put(runner.tasks["sync.add"].enqueue_sync(5, 5).result_sync(timeout=30))
    except BaseException as exc:
        answers.put(repr(exc))
    finally:
        runner.close_sync()


def test_a_forked_child_starts_its_own_connections(worker_url: str) -> None:
    runner = make_runner(worker_url)
    add = runner.tasks["sync.add"]
    assert add.enqueue_sync(1, 1).result_sync(timeout=30) == 2  # the parent's loop and pool
    context = multiprocessing.get_context("fork")
    answers: multiprocessing.Queue[object] = context.Queue()
    # the child inherits this runner, its loop thread gone and its pool the parent's
    child = context.Process(target=_inherited, args=(runner, answers))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and answers.get(timeout=5) == 7
    fresh = context.Process(target=_child, args=(worker_url, answers))
    fresh.start()
    fresh.join(60)
    assert answers.get(timeout=5) == 10
    assert add.enqueue_sync(2, 2).result_sync(timeout=30) == 4  # the parent's pool still works
    runner.close_sync()


def _inherited(runner: TaskRunner, answers: multiprocessing.Queue[object]) -> None:
    try:
        answers.put(runner.tasks["sync.add"].enqueue_sync(3, 4).result_sync(timeout=30))
    except BaseException as exc:
        answers.put(repr(exc))
    finally:
        runner.close_sync()


async def test_refused_on_the_event_loop_thread() -> None:
    runner = make_runner("memory://")
    with pytest.raises(TaskrunnerError, match="await the async method instead"):
        runner.tasks["sync.add"].enqueue_sync(1, 2)


def test_the_memory_backend_needs_a_running_loop_of_the_runner() -> None:
    runner = make_runner("memory://")
    with pytest.raises(ConfigurationError, match=r"redis:// or postgresql://"):
        runner.tasks["sync.add"].enqueue_sync(1, 2)


async def test_a_def_task_and_an_async_apps_threads_use_the_runners_loop() -> None:
    runner = make_runner("memory://")  # works even in memory: the runner's loop is running
    add = runner.tasks["sync.add"]

    @runner.task(queue="sync")
    def fan_out(n: int) -> list[int]:  # runs in a worker thread
        jobs = [add.enqueue_sync(n, i) for i in range(3)]
        return [job.result_sync(timeout=10) for job in jobs]

    async with runner, runner.worker(concurrency=4, queues=["sync"]):
        assert await (await fan_out.enqueue(10)).result(timeout=10) == [10, 11, 12]
        job = await asyncio.to_thread(add.enqueue_sync, 2, 3)  # a sync endpoint's thread
        assert await asyncio.to_thread(job.result_sync, 10) == 5
    assert runner._own_loop is None


REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request", default=None)


async def _request_id() -> str | None:
    return REQUEST_ID.get()


async def _refuse(why: str) -> None:
    raise ValueError(why)


async def _park(started: threading.Event) -> None:
    started.set()
    await asyncio.Event().wait()  # until cancelled


def test_a_call_runs_in_the_callers_context_and_raises_its_errors() -> None:
    with connected_in_a_thread(make_runner("memory://")) as runner:
        REQUEST_ID.set("r-1")  # a trace's current span travels the same way
        assert runner.call_sync(_request_id) == "r-1"
        with pytest.raises(ValueError, match=r"^no$"):
            runner.call_sync(_refuse, "no")


def test_a_call_ends_when_its_loop_shuts_down() -> None:
    errors: list[BaseException] = []
    started = threading.Event()
    with connected_in_a_thread(make_runner("memory://")) as runner:

        def caller() -> None:
            try:
                runner.call_sync(_park, started)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=caller)
        thread.start()
        assert started.wait(30)
    # the loop's end cancelled the call: its caller is told so rather than left waiting
    thread.join(30)
    assert [type(error) for error in errors] == [concurrent.futures.CancelledError]


def test_a_runner_whose_loop_ended_connects_again_on_the_next(worker_url: str) -> None:
    runner = make_runner(worker_url)  # a Flask async view, a test: one loop per call
    add = runner.tasks["sync.add"]

    async def once(n: int) -> object:
        return await (await add.enqueue(n, n)).result(timeout=30)

    assert asyncio.run(once(1)) == 2
    first = runner.backend
    assert asyncio.run(once(2)) == 4  # the first loop is closed: a new connection
    assert runner.backend is not first
    asyncio.run(runner.close())


def test_a_stopped_loop_thread_ends_its_tasks_and_closes_its_loop() -> None:
    # a task left pending on a runner's own loop (a listener whose close timed out) must end
    # with the loop, not be destroyed by the garbage collector later inside other code
    from taskrunner.blocking import LoopThread

    own = LoopThread("test-loop")
    started = threading.Event()

    async def listener() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.run_coroutine_threadsafe(listener(), own.loop)
    assert started.wait(10)
    own.stop(None, 10)
    assert not own.thread.is_alive()
    assert own.loop.is_closed()
    assert task.cancelled()
