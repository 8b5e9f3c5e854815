"""`runner.batch` and `runner.open_batch` through a worker: the callbacks run once, the
handle tells the counts and waits, and bad input is refused. On the memory backend; the
backend rules themselves are checked by the conformance suite (`BatchTests`)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from taskrunner import (
    BatchNotOpen,
    ConfigurationError,
    JobNotFound,
    JobState,
    JobTimeout,
    TaskRunner,
    current_job,
)
from taskrunner.backend import Batches
from tests.helpers import drain, require


@pytest.fixture
def runner() -> TaskRunner:
    return TaskRunner("memory://")


async def test_the_album_is_published_once_after_every_upload(
    each_backend_runner: TaskRunner,
) -> None:
    runner = each_backend_runner  # members on two queues
    require(runner, Batches)
    uploaded: list[str] = []
    published: list[tuple[int, int]] = []
    seen_batches: set[str | None] = set()

    @runner.task(retries=2, backoff=0)
    async def upload(photo: str) -> str:
        seen_batches.add(current_job().batch_id)
        if photo == "p3.jpg" and current_job().attempt < 3:
            raise OSError("network down")
        uploaded.append(photo)
        return f"https://cdn/{photo}"

    @runner.task(queue="albums")
    async def publish_album(album_id: int) -> None:
        published.append((album_id, len(uploaded)))
        seen_batches.add(current_job().batch_id)  # a callback knows its batch too

    photos = [f"p{n}.jpg" for n in range(20)]
    members = [upload.options(queue=f"q{n % 2}").prepare(p) for n, p in enumerate(photos)]
    batch = await runner.batch(members, on_success=publish_album.prepare(7))
    async with runner.worker(concurrency=5, queues=["q0", "q1", "albums"]):
        info = await batch.wait(timeout=20)
        assert info.on_success is not None
        await runner.wait_for(info.on_success, timeout=20)
    assert info.total == 20 and info.counts[JobState.SUCCEEDED] == 20 and info.ended
    assert info.success_fired and published == [(7, 20)]
    assert seen_batches == {batch.id}
    records = [await runner.get_job(m) for m in await batch.members()]
    assert [r.result for r in records] == [f"https://cdn/{p}" for p in photos]
    assert {r.batch_id for r in records} == {batch.id}


async def test_on_complete_runs_when_a_member_fails_for_good(runner: TaskRunner) -> None:
    done: list[str] = []

    @runner.task(retries=0)
    async def work(n: int) -> None:
        if n == 2:
            raise ValueError("bad input")

    @runner.task()
    async def report(what: str) -> None:
        done.append(what)

    batch = await runner.batch(
        [work.prepare(n) for n in range(4)],
        on_success=report.prepare("success"),
        on_complete=report.prepare("complete"),
    )
    async with runner.worker(concurrency=4):
        info = await batch.wait(timeout=20)
        await runner.wait_for(info.on_complete or "", timeout=20)
    assert done == ["complete"]
    assert (info.counts[JobState.SUCCEEDED], info.counts[JobState.FAILED]) == (3, 1)
    assert info.complete_fired and not info.success_fired
    assert (await runner.get_batch(batch.id)).id == batch.id
    found = await runner.find_batch(batch.id)  # the handle again, from the id alone
    assert await found.members() == await batch.members()
    assert (await found.wait(timeout=1)).counts == info.counts
    with pytest.raises(JobNotFound):
        await (await runner.find_batch("01900000-0000-7000-8000-000000000000")).info()


async def test_a_batch_built_over_time_fires_after_it_is_closed(runner: TaskRunner) -> None:
    @runner.task()
    async def step(n: int) -> int:
        return n

    @runner.task()
    async def finish() -> None: ...

    async with runner.worker(concurrency=4):
        async with runner.open_batch(on_success=finish.prepare()) as batch:
            await batch.add(step.prepare(1))
            await asyncio.sleep(0.2)  # the first member ends while the batch is open
            first = await batch.info()
            assert first.counts[JobState.SUCCEEDED] == 1 and not first.success_fired
            await batch.add(*(step.prepare(n) for n in range(2, 2500)))
        info = await batch.wait(timeout=30)
    assert info.total == 2499 and info.success_fired
    with pytest.raises(ConfigurationError, match="closed"):
        await batch.add(step.prepare(0))


async def test_wait_times_out_and_cancel_stops_what_has_not_started(runner: TaskRunner) -> None:
    @runner.task()
    async def slow(n: int) -> None: ...

    batch = await runner.batch([slow.prepare(n) for n in range(3)])
    with pytest.raises(JobTimeout):
        await batch.wait(timeout=0.1)
    assert await batch.cancel() == 3
    info = await batch.wait(timeout=1)
    assert info.counts[JobState.CANCELLED] == 3 and info.complete_fired


async def test_bad_input_is_refused(runner: TaskRunner) -> None:
    from taskrunner.batch import as_member

    @runner.task()
    async def step(n: int) -> None: ...

    with pytest.raises(ConfigurationError, match="prepared calls"):
        await runner.batch([step])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="prepared call"):
        await runner.batch([], on_success=step)  # type: ignore[arg-type]
    with pytest.raises(JobNotFound):
        await runner.get_batch("01900000-0000-7000-8000-000000000000")
    batch = await runner.batch([step.prepare(1)])
    async with runner.open_batch() as other:
        with pytest.raises(ConfigurationError, match="one batch only"):
            await other.add(as_member(step.prepare(3), batch.id))
    assert [b.id for b in await runner.list_batches()] == [other.id, batch.id]
    with pytest.raises(BatchNotOpen):  # the batch is closed: the backend refuses a member
        await runner.enqueue_many([as_member(step.prepare(4), batch.id)])
    assert (await runner.get_batch(batch.id)).total == 1


def test_a_backend_without_batches_says_so() -> None:
    from taskrunner.batch import batches_of

    with pytest.raises(ConfigurationError, match="the object keeps no batches"):
        batches_of(object())  # type: ignore[arg-type]


def test_the_cli_lists_batches_and_shows_a_members_batch() -> None:
    from typer.testing import CliRunner

    from taskrunner.cli import app
    from tests.apps.limited import runner as app_runner

    async def seed() -> tuple[str, str]:
        sync = app_runner.tasks["crm.sync"]
        batch = await app_runner.batch([sync.prepare(1), sync.prepare(2)])
        return batch.id, (await batch.members())[0]

    batch_id, member = asyncio.run(seed())
    cli = CliRunner()
    listed = cli.invoke(app, ["batches", "tests.apps.limited:runner"])
    assert listed.exit_code == 0 and batch_id in listed.output, listed.output
    data = orjson.loads(cli.invoke(app, ["batches", "tests.apps.limited:runner", "--json"]).output)
    mine = next(b for b in data if b["id"] == batch_id)
    assert (mine["total"], mine["closed"], mine["counts"]["queued"]) == (2, True, 2)
    shown = cli.invoke(app, ["job", member, "tests.apps.limited:runner"])
    assert "batch" in shown.output and batch_id in shown.output  # the line may wrap


@pytest.mark.slow
async def test_a_batch_of_ten_thousand_members(each_backend_runner: TaskRunner) -> None:
    runner = each_backend_runner
    require(runner, Batches)
    calls: list[str] = []

    @runner.task(name="big.member")
    async def member(n: int) -> None:
        pass

    @runner.task(name="big.done", queue="done")
    async def done() -> None:
        calls.append("done")

    async with runner.open_batch(on_complete=done.prepare()) as batch:
        for start in range(0, 10_000, 2_500):
            await batch.add(*(member.prepare(n) for n in range(start, start + 2_500)))
    info = await batch.info()
    assert info.total == 10_000 and info.counts[JobState.QUEUED] == 10_000
    assert len(await batch.members(limit=20_000)) == 10_000
    await drain(runner, queues=["default", "done"], concurrency=50, limit=None)
    info = await batch.wait(timeout=120)
    assert info.counts[JobState.SUCCEEDED] == 10_000 and info.complete_fired
    await drain(runner, queues=["done"])
    assert calls == ["done"]
