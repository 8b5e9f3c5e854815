"""Arguments are checked against the task's signature: at enqueue, before anything is
written, and in the worker, where stored arguments that no longer fit fail the job at once
instead of retrying it to exhaustion."""

from __future__ import annotations

import pytest

from taskrunner import InvalidArguments, JobState, TaskRunner, TaskrunnerError
from taskrunner.backend import NewJob, new_job_id


@pytest.fixture
def runner() -> TaskRunner:
    return TaskRunner("memory://")


def test_a_shape_that_fit_once_is_not_bound_again_and_others_still_are() -> None:
    from taskrunner.arguments import ArgumentCheck

    async def fetch(url: str, *, timeout: float = 10.0) -> None: ...

    check = ArgumentCheck(fetch, "feeds.fetch")
    check.check(["a"], {"timeout": 1})
    check.check(["b"], {"timeout": 2})  # same shape: remembered
    assert check._fits == {(1, ("timeout",))}
    for args, kwargs in [(["a", "b"], {}), (["a"], {"timout": 3}), ([], {"timeout": 1})]:
        with pytest.raises(InvalidArguments):
            check.check(args, kwargs)
    assert check._fits == {(1, ("timeout",))}  # refused shapes are not remembered
    check.check(["a"], {})  # without keywords, a shape is its count of arguments
    assert check._fits == {(1, ("timeout",)), 1}
    with pytest.raises(InvalidArguments):
        check.check([], {})  # another count is bound again


async def test_calls_that_do_not_fit_are_refused_and_store_nothing(runner: TaskRunner) -> None:
    @runner.task(name="feeds.fetch")
    async def fetch(url: str, *, timeout: float = 10.0) -> None: ...

    for args, kwargs, detail in [
        ((), {}, "missing a required argument: 'url'"),
        (("a", "b"), {}, "too many positional arguments"),
        (("a",), {"timout": 3}, "unexpected keyword argument 'timout'"),
        (("a", 3.0), {}, "too many positional arguments"),
    ]:
        with pytest.raises(InvalidArguments) as caught:
            await fetch.enqueue(*args, **kwargs)  # type: ignore[arg-type]
        message = str(caught.value)
        assert detail in message and "feeds.fetch" in message
        assert "fetch(url, *, timeout=10.0)" in message
        assert isinstance(caught.value, TypeError) and isinstance(caught.value, TaskrunnerError)
    with pytest.raises(InvalidArguments):
        fetch.options(delay=1).prepare()  # type: ignore[call-arg]  # prepared calls too (batches, enqueue_many)
    assert (await runner.stats()).get("default") is None  # nothing was written
    job = await fetch.enqueue("https://example.com", timeout=1)
    assert (await job.info()).kwargs == {"timeout": 1}


async def test_a_task_taking_anything_takes_anything(runner: TaskRunner) -> None:
    @runner.task()
    async def anything(*args: object, **kwargs: object) -> None: ...

    await anything.enqueue(1, 2, three=3)
    await anything.enqueue()


async def test_stored_arguments_that_no_longer_fit_fail_without_retries(
    runner: TaskRunner,
) -> None:
    calls: list[str] = []

    @runner.task(name="mail.send", retries=5)
    async def send(to: str, subject: str) -> None:
        calls.append(to)

    # stored by an older version of the task, which took one argument
    new = NewJob(new_job_id(), "mail.send", "default", b'{"args":["a@b.c"],"kwargs":{}}', 0, 6)
    await runner.connect()
    (job_id,) = await runner.backend.enqueue([new])
    async with runner.worker():
        info = await runner.wait_for(job_id, timeout=10)
    assert info is not None and info.state is JobState.FAILED and info.attempt == 1
    assert info.error is not None and info.error.type == "InvalidArguments"
    assert "missing a required argument: 'subject'" in info.error.message
    assert "signature changed" in info.error.message
    assert calls == []


async def test_a_type_error_inside_the_task_is_retried_as_usual(runner: TaskRunner) -> None:
    attempts: list[int] = []

    @runner.task(retries=2, backoff=0)
    async def broken(n: int) -> None:
        attempts.append(n)
        raise TypeError("a bug in the task body")

    job = await broken.enqueue(1)
    async with runner.worker():
        info = await runner.wait_for(job.id, timeout=10)
    assert info is not None and info.state is JobState.FAILED
    assert attempts == [1, 1, 1] and info.error is not None and info.error.type == "TypeError"
