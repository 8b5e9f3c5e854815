"""The public API: construction, registration, enqueue options, lookups, bad input."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

import taskrunner
from taskrunner import (
    BackendNotFound,
    ConfigurationError,
    DuplicateTask,
    InvalidName,
    JobFailed,
    JobNotFound,
    JobState,
    JobTimeout,
    PayloadTooLarge,
    SerializationError,
    TaskRunner,
    TaskrunnerError,
)
from taskrunner.backend import Backend, redact
from taskrunner.memory import MemoryBackend
from tests.helpers import CountingBackend, drain, runner_on


def test_public_names_are_exported() -> None:
    for name in ("TaskRunner", "Retry", "every", "cron", "current_job", "JobFailed"):
        assert name in taskrunner.__all__
        assert hasattr(taskrunner, name)


def test_url_defaults_to_memory_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TASKRUNNER_URL", raising=False)
    assert TaskRunner().url == "memory://"
    assert isinstance(TaskRunner().backend, MemoryBackend)
    monkeypatch.setenv("TASKRUNNER_URL", "memory://from-env")
    assert TaskRunner().url == "memory://from-env"
    assert TaskRunner("memory://explicit").url == "memory://explicit"


def test_unknown_scheme_names_what_to_install() -> None:
    with pytest.raises(
        BackendNotFound,
        match=r"no taskrunner backend for nosuch:// URLs.*"
        r"installed backends: .*memory",
    ):
        TaskRunner("nosuch://host")
    with pytest.raises(ConfigurationError, match="has no scheme"):
        TaskRunner("localhost:6379")


def test_known_but_missing_backend_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # pretend no backend plugin is installed, whatever this environment has
    monkeypatch.setattr("taskrunner.backend.plugins.entry_points", lambda group: [])
    with pytest.raises(BackendNotFound) as missing:
        TaskRunner("rediss://:hunter2@cache.internal:6380/0")
    assert "pip install 'taskrunner-jobs[redis]'" in str(missing.value)
    assert "hunter2" not in str(missing.value)
    with pytest.raises(BackendNotFound, match=r"pip install .taskrunner-jobs\[postgres\]"):
        TaskRunner("postgresql://db/app")
    with pytest.raises(BackendNotFound, match=r"pip install .taskrunner-jobs\[sqlite\]"):
        TaskRunner("sqlite:///jobs.db")


def test_redact_hides_passwords() -> None:
    assert redact("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert redact("postgresql://app:pw@db/app") == "postgresql://app:***@db/app"
    assert redact("memory://") == "memory://"
    assert redact("postgresql://postgres@db/app") == "postgresql://postgres@db/app"
    assert redact("redis:/user:pw@host/0") == "redis:***@host/0"
    assert "pw" not in repr(TaskRunner("memory://u:pw@x"))


async def test_calling_a_task_runs_it_inline() -> None:
    runner = TaskRunner()

    @runner.task
    async def double(x: int) -> int:
        return x * 2

    @runner.task
    def triple(x: int) -> int:
        return x * 3

    assert await double(4) == 8
    assert triple(4) == 12
    assert (await runner.stats()) == {}  # nothing was enqueued


def test_task_options_and_default_name() -> None:
    runner = TaskRunner()

    @runner.task(queue="feeds", retries=5, timeout=30, priority=-2, result_ttl=60)
    async def fetch_feed(url: str) -> int:
        return 0

    settings = fetch_feed.settings
    assert settings.name == f"{__name__}.test_task_options_and_default_name.fetch_feed"
    assert (settings.queue, settings.retries, settings.timeout, settings.priority) == (
        "feeds",
        5,
        30,
        -2,
    )
    assert runner.tasks[settings.name] is fetch_feed


def test_registering_two_tasks_under_one_name_is_an_error() -> None:
    runner = TaskRunner()

    @runner.task(name="send")
    async def first() -> None:
        return None

    with pytest.raises(DuplicateTask, match="'send' is already registered"):

        @runner.task(name="send")
        async def second() -> None:
            return None


@pytest.mark.parametrize(
    "name",
    [
        "",
        "has space",
        "semi;colon",
        "quote'",
        "glob*",
        "brace{x}",
        "tab\there",
        "new\nline",
        "x" * 201,
        "-leading-dash",
        "percent%",
    ],
)
def test_invalid_task_names_are_refused(name: str) -> None:
    runner = TaskRunner()
    with pytest.raises(InvalidName, match="task name"):
        runner.task(name=name)(lambda: None)


@pytest.mark.parametrize("queue", ["", "a b", "a*", "q'; drop table jobs;--", "x" * 65])
def test_invalid_queue_names_are_refused(queue: str) -> None:
    runner = TaskRunner()
    with pytest.raises(InvalidName, match="queue name"):
        runner.task(queue=queue)(lambda: None)

    @runner.task
    async def ok() -> None:
        return None

    with pytest.raises(InvalidName, match="queue name"):
        ok.options(queue=queue)


def test_bad_task_options_are_refused() -> None:
    runner = TaskRunner()
    with pytest.raises(ConfigurationError, match="retries"):
        runner.task(retries=-1)(lambda: None)
    with pytest.raises(ConfigurationError, match="timeout"):
        runner.task(timeout=0)(lambda: None)
    with pytest.raises(ConfigurationError, match="priority"):
        runner.task(priority=10**6)(lambda: None)
    with pytest.raises(ConfigurationError, match="retry_on"):
        runner.task(retry_on=("not a type",))(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="backoff"):
        runner.task(backoff="fast")(lambda: None)  # type: ignore[call-overload]


async def test_arguments_json_cannot_carry_are_refused_before_anything_is_stored() -> None:
    runner = runner_on()

    @runner.task
    async def store(value: object) -> None:
        return None

    @dataclasses.dataclass
    class Point:
        x: int

    for bad in ({1, 2}, object(), datetime.now(UTC), Point(1), b"bytes", 2**70):
        with pytest.raises(SerializationError, match="cannot be sent as JSON"):
            await store.enqueue(bad)
    assert await runner.stats() == {}


async def test_payload_over_the_limit_is_refused() -> None:
    runner = runner_on(max_payload=1000)

    @runner.task
    async def store(blob: str) -> None:
        return None

    with pytest.raises(PayloadTooLarge, match="over the limit of 1000"):
        await store.enqueue("x" * 2000)
    assert isinstance(PayloadTooLarge("x"), TaskrunnerError)
    await store.enqueue("x" * 100)
    with pytest.raises(ConfigurationError):
        TaskRunner(max_payload=0)


async def test_options_delay_at_key_priority_queue() -> None:
    runner = runner_on()

    @runner.task
    async def fetch(feed: int) -> None:
        return None

    delayed = await fetch.options(delay=timedelta(minutes=10)).enqueue(1)
    info = await runner.get_job(delayed.id)
    assert info.state is JobState.SCHEDULED
    assert (info.run_at - info.enqueued_at).total_seconds() == pytest.approx(600, abs=0.01)

    when = datetime(2030, 1, 1, tzinfo=UTC)
    at = await fetch.options(at=when).enqueue(2)
    assert (await runner.get_job(at.id)).run_at == when

    urgent = await fetch.options(priority=-10, queue="urgent").enqueue(3)
    info = await runner.get_job(urgent.id)
    assert (info.priority, info.queue) == (-10, "urgent")

    first = await fetch.options(key="feed:42").enqueue(42)
    again = await fetch.options(key="feed:42").enqueue(42)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.id == first.id


def test_bad_enqueue_options_are_refused() -> None:
    runner = TaskRunner()

    @runner.task
    async def fetch() -> None:
        return None

    with pytest.raises(ConfigurationError, match="either delay= or at="):
        fetch.options(delay=1, at=datetime.now(UTC))
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        fetch.options(at=datetime(2030, 1, 1))
    with pytest.raises(ConfigurationError, match="must not be negative"):
        fetch.options(delay=-5)
    with pytest.raises(InvalidName, match="dedup key"):
        fetch.options(key="")
    with pytest.raises(InvalidName, match="control characters"):
        fetch.options(key="a\x00b")


async def test_memory_backend_refuses_a_caller_connection() -> None:
    runner = runner_on()

    @runner.task
    async def send() -> None:
        return None

    with pytest.raises(ConfigurationError, match="connection= works with the Postgres"):
        await send.options(connection=object()).enqueue()
    assert await runner.stats() == {}


async def test_enqueue_many_is_one_round_trip() -> None:
    backend = CountingBackend()
    runner = runner_on(backend)

    @runner.task
    async def resize(image: str) -> None:
        return None

    jobs = await runner.enqueue_many(resize.prepare(f"img{i}.png") for i in range(500))
    assert backend.calls["enqueue"] == 1
    assert len({job.id for job in jobs}) == 500
    assert await runner.enqueue_many([]) == []


async def test_enqueue_many_asks_once_how_to_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from taskrunner import _coalesce as runner_module
    from taskrunner.backend import enqueuer as real

    asked: list[object] = []

    def counted(backend: Backend, connection: object = None) -> object:
        asked.append(connection)
        return real(backend, connection)

    monkeypatch.setattr(runner_module, "enqueuer", counted)
    runner = runner_on()

    @runner.task
    async def resize(image: str) -> None:
        return None

    await runner.enqueue_many([resize.prepare("a.png"), resize.prepare("b.png")])
    assert asked == [None]


async def test_result_waits_without_polling() -> None:
    backend = CountingBackend()
    runner = runner_on(backend)

    @runner.task
    async def slow() -> str:
        import anyio

        await anyio.sleep(0.3)
        return "ok"

    job = await slow.enqueue()
    async with runner.worker():
        assert await job.result(timeout=5) == "ok"
    assert backend.calls.get("get", 0) <= 2


async def test_result_timeout_and_unknown_jobs() -> None:
    runner = runner_on()

    @runner.task
    async def never_run() -> None:
        return None

    job = await never_run.enqueue()
    with pytest.raises(JobTimeout, match=r"did not finish within 0\.05s"):
        await job.result(timeout=0.05)
    with pytest.raises(JobNotFound):
        await runner.get_job("no-such-id")
    with pytest.raises(JobNotFound):
        await runner.cancel("no-such-id")
    with pytest.raises(JobNotFound):
        await runner.retry("no-such-id")


async def test_manual_retry_of_a_failed_job() -> None:
    runner = runner_on()
    calls: list[int] = []

    @runner.task(retries=0)
    async def fragile() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first time fails")
        return "second time works"

    job = await fragile.enqueue()
    await drain(runner)
    with pytest.raises(JobFailed, match="RuntimeError: first time fails"):
        await job.result(timeout=1)
    assert await runner.retry(job.id) is True
    assert await runner.retry(job.id) is False  # already queued again
    await drain(runner)
    assert await job.result(timeout=1) == "second time works"


async def test_purge_and_stats() -> None:
    runner = runner_on()

    @runner.task
    async def noop() -> None:
        return None

    await runner.enqueue_many(noop.prepare() for _ in range(3))
    await drain(runner)
    assert (await runner.stats())["default"][JobState.SUCCEEDED] == 3
    assert await runner.purge([JobState.SUCCEEDED], older_than=3600) == 0
    assert await runner.purge([JobState.SUCCEEDED]) == 3
    assert (await runner.stats())["default"][JobState.SUCCEEDED] == 0


async def test_runner_as_context_manager_connects_and_closes() -> None:
    async with TaskRunner() as runner:
        assert runner._connected
    assert not runner._connected


def test_stored_bytes_are_compact() -> None:
    import sys
    import tracemalloc

    from taskrunner._serialization import encode_payload, encode_result

    tracemalloc.start()
    kept = [encode_payload([i], {}) for i in range(200)] + [encode_result(i) for i in range(200)]
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # orjson's own bytes each hold about 4 KiB; a job's stored payload must not
    assert used / len(kept) < 4 * sys.getsizeof(kept[0])
