"""`task.options(after=[...])` through a worker: a dependent runs once its dependencies
succeeded and reads their results, is cancelled when one fails (or runs anyway), and bad
input is refused before anything is stored. The backend rules themselves are checked by
the conformance suite (`DependencyTests`)."""

from __future__ import annotations

import pytest

from taskrunner import (
    ConfigurationError,
    DependencyNotFound,
    HoldKind,
    JobFailed,
    JobState,
    TaskRunner,
    current_job,
)
from taskrunner.backend import Dependencies, new_job_id
from tests.helpers import require


@pytest.fixture
def runner() -> TaskRunner:
    return TaskRunner("memory://")


async def test_a_dependent_runs_after_its_dependencies_and_reads_their_results(
    each_backend_runner: TaskRunner,
) -> None:
    runner = each_backend_runner  # dependencies on two queues
    require(runner, Dependencies)
    order: list[str] = []
    seen: dict[str, object] = {}

    @runner.task(queue="fetch")
    async def fetch(url: str) -> str:
        order.append(url)
        return f"<rss {url}>"

    @runner.task(queue="parse")
    async def parse() -> int:
        job = current_job()
        seen.update(await job.dependency_results())
        seen["after"] = job.after
        order.append("parse")
        return len(seen) - 1

    one = await fetch.enqueue("a")
    two = await fetch.options(queue="fetch2").enqueue("b")
    parsed = await parse.options(after=[one, two.id]).enqueue()
    info = await parsed.info()
    assert info.state is JobState.WAITING and info.after == (one.id, two.id)
    assert info.held_by is not None and info.held_by.kind is HoldKind.DEPENDENCIES
    assert "2 of the 2 jobs" in info.held_by.detail
    async with runner.worker(concurrency=2, queues=["fetch", "fetch2", "parse"]):
        assert await parsed.result(timeout=20) == 2
    assert order[-1] == "parse" and sorted(order[:2]) == ["a", "b"]
    assert seen == {one.id: "<rss a>", two.id: "<rss b>", "after": (one.id, two.id)}


async def test_a_failed_dependency_cancels_the_chain(runner: TaskRunner) -> None:
    ran: list[str] = []

    @runner.task(retries=0)
    async def flaky() -> None:
        raise OSError("feed down")

    @runner.task()
    async def step(name: str) -> None:
        ran.append(name)

    first = await flaky.enqueue()
    second = await step.options(after=[first]).enqueue("second")
    third = await step.options(after=[second]).enqueue("third")
    anyway = await step.options(after=[first], run_anyway=True).enqueue("cleanup")
    async with runner.worker():
        await anyway.result(timeout=10)
        with pytest.raises(JobFailed) as caught:
            await third.result(timeout=10)
    assert ran == ["cleanup"]
    error = caught.value.error
    assert error is not None and error.type == "DependencyFailed"
    assert error.message == f"its dependency {second.id} was cancelled"
    info = await second.info()
    assert info.state is JobState.CANCELLED and info.error is not None
    assert info.error.message == f"its dependency {first.id} failed"


async def test_run_anyway_leaves_out_the_results_of_failed_dependencies(
    runner: TaskRunner,
) -> None:
    got: list[dict[str, object]] = []

    @runner.task(retries=0)
    async def maybe(ok: bool) -> str:
        if not ok:
            raise ValueError("no")
        return "yes"

    @runner.task()
    async def report() -> None:
        got.append(await current_job().dependency_results())

    good, bad = await maybe.enqueue(True), await maybe.enqueue(False)
    done = await report.options(after=[good, bad], run_anyway=True).enqueue()
    async with runner.worker():
        await done.result(timeout=10)
    assert got == [{good.id: "yes"}]


async def test_a_job_without_dependencies_has_no_results(runner: TaskRunner) -> None:
    got: list[dict[str, object]] = []

    @runner.task()
    async def alone() -> None:
        got.append(await current_job().dependency_results())
        assert current_job().after == ()

    async with runner.worker():
        await (await alone.enqueue()).result(timeout=10)
    assert got == [{}]


async def test_unknown_or_malformed_dependencies_store_nothing(runner: TaskRunner) -> None:
    @runner.task()
    async def step() -> None: ...

    unknown = new_job_id()
    with pytest.raises(DependencyNotFound) as caught:
        await step.options(after=[unknown]).enqueue()
    assert caught.value.job_id == unknown and unknown in str(caught.value)
    with pytest.raises(DependencyNotFound):
        await step.options(after=["not-a-job-id"]).enqueue()
    assert sum((await runner.stats()).get("default", {}).values()) == 0


async def test_bad_after_arguments_are_refused(runner: TaskRunner) -> None:
    @runner.task()
    async def step() -> None: ...

    job = await step.enqueue()
    with pytest.raises(ConfigurationError, match="a list of jobs"):
        step.options(after=job)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not 3"):
        step.options(after=[3])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="needs jobs to wait on"):
        step.options(run_anyway=True)
    with pytest.raises(ConfigurationError, match="True or False"):
        step.options(after=[job], run_anyway="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at most 1000"):
        step.options(after=[new_job_id() for _ in range(1001)])
    twice = step.options(after=[job, job.id, job])
    assert (await (await twice.enqueue()).info()).after == (job.id,)


async def test_batch_members_and_callbacks_cannot_wait(runner: TaskRunner) -> None:
    @runner.task()
    async def step() -> None: ...

    job = await step.enqueue()
    with pytest.raises(ConfigurationError, match="member cannot wait"):
        await runner.batch([step.options(after=[job]).prepare()])
    with pytest.raises(ConfigurationError, match="callback"):
        await runner.batch([step.prepare()], on_success=step.options(after=[job]).prepare())
    assert await runner.list_batches() == []


async def test_a_waiting_job_can_be_cancelled(runner: TaskRunner) -> None:
    @runner.task()
    async def step() -> None: ...

    first = await step.options(delay=3600).enqueue()
    then = await step.options(after=[first]).enqueue()
    assert await then.cancel() is JobState.CANCELLED
    assert await runner.retry(then.id) is True  # by hand it runs, waiting on nothing
    assert (await then.info()).state is JobState.QUEUED
