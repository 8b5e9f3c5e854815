"""`Limit` and `Rate` on tasks: declaring them, their keys worked out at enqueue, bad input
refused with nothing written, and what `get_job` says of a job they hold back."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any

import pytest

from taskrunner import (
    ConfigurationError,
    HoldKind,
    InvalidArguments,
    InvalidName,
    JobState,
    Limit,
    Rate,
    TaskRunner,
)


@pytest.fixture
def runner() -> TaskRunner:
    return TaskRunner("memory://")


async def stored(runner: TaskRunner) -> int:
    return sum(sum(queue.values()) for queue in (await runner.stats()).values())


@pytest.mark.parametrize(
    "make",
    [
        lambda: Limit(0),
        lambda: Limit(-1),
        lambda: Limit(1.5),  # type: ignore[arg-type]
        lambda: Limit(True),
        lambda: Limit(2_000_000),
        lambda: Limit(1, key=42),  # type: ignore[arg-type]
        lambda: Limit(1, key=""),
        lambda: Limit(1, key="customer:{"),
        lambda: Limit(1, key="{0}"),
        lambda: Rate(0),
        lambda: Rate(1, per=0),
        lambda: Rate(1, per=-1),
        lambda: Rate(1, per=math.nan),
        lambda: Rate(1, per=math.inf),
        lambda: Rate(1, per="1"),  # type: ignore[arg-type]
        lambda: Rate(1, per=timedelta(0)),
    ],
)
def test_bad_numbers_and_keys_are_refused(make: Any) -> None:
    with pytest.raises(ConfigurationError):
        make()


def test_rate_takes_a_timedelta() -> None:
    assert Rate(5, per=timedelta(minutes=1)).per == 60.0


def test_a_template_naming_no_argument_is_refused_at_declaration(runner: TaskRunner) -> None:
    with pytest.raises(ConfigurationError, match=r"'customer'.*not an argument"):

        @runner.task(limit=Limit(2, key="c:{customer}"))
        async def sync(customer_id: int) -> None: ...

    assert not runner.tasks


async def test_keys_come_from_the_arguments(runner: TaskRunner) -> None:
    @runner.task(limit=Limit(2, key="customer:{customer_id}"), rate=Rate(10, key="api:{region}"))
    async def sync(customer_id: int, region: str = "eu") -> None: ...

    job = await sync.enqueue(7)
    info = await runner.get_job(job.id)
    assert (info.limit_key, info.rate_key) == ("customer:7", "api:eu")
    job = await sync.enqueue(region="us", customer_id=8)
    info = await runner.get_job(job.id)
    assert (info.limit_key, info.rate_key) == ("customer:8", "api:us")


async def test_without_a_key_the_limit_is_per_task(runner: TaskRunner) -> None:
    @runner.task(name="reports.build", limit=Limit(1), rate=Rate(3, key="const"))
    async def build(n: int) -> None: ...

    info = await runner.get_job((await build.enqueue(1)).id)
    assert (info.limit_key, info.rate_key) == ("reports.build", "const")


async def test_a_callable_key_and_its_bad_answers(runner: TaskRunner) -> None:
    @runner.task(limit=Limit(1, key=lambda user, **_: f"user:{user['id']}"))
    async def notify(user: dict[str, Any], text: str = "") -> None: ...

    @runner.task(limit=Limit(1, key=lambda n: n))
    async def numbered(n: int) -> None: ...

    info = await runner.get_job((await notify.enqueue({"id": 3}, text="hi")).id)
    assert info.limit_key == "user:3"
    with pytest.raises(InvalidArguments, match="returned int"):
        await numbered.enqueue(5)
    assert await stored(runner) == 1


async def test_a_key_too_long_or_unfillable_writes_nothing(runner: TaskRunner) -> None:
    @runner.task(limit=Limit(1, key="k:{name}"))
    async def greet(name: str) -> None: ...

    with pytest.raises(InvalidName, match="limit key"):
        await greet.enqueue("x" * 300)
    with pytest.raises(InvalidName, match="control characters"):
        await greet.enqueue("a\nb")
    with pytest.raises(InvalidArguments):
        await greet.enqueue()  # type: ignore[call-arg]
    assert await stored(runner) == 0


async def test_options_replace_the_keys(runner: TaskRunner) -> None:
    @runner.task(limit=Limit(2, key="c:{n}"), rate=Rate(5))
    async def work(n: int) -> None: ...

    @runner.task()
    async def plain() -> None: ...

    job = await work.options(limit_key="vip", rate_key="shared").enqueue(1)
    info = await runner.get_job(job.id)
    assert (info.limit_key, info.rate_key) == ("vip", "shared")
    with pytest.raises(ConfigurationError, match="has no Limit"):
        plain.options(limit_key="x")
    with pytest.raises(ConfigurationError, match="has no Rate"):
        plain.options(rate_key="x")
    with pytest.raises(InvalidName):
        work.options(limit_key="")


def test_tasks_sharing_a_key_must_share_its_numbers(runner: TaskRunner) -> None:
    @runner.task(limit=Limit(2, key="stripe"), rate=Rate(10, key="api:{n}"))
    async def charge(n: int) -> None: ...

    @runner.task(limit=Limit(2, key="stripe"))  # the same numbers: fine
    async def refund() -> None: ...

    @runner.task(queue="other", limit=Limit(5, key="stripe"))  # another queue: apart
    async def audit() -> None: ...

    with pytest.raises(ConfigurationError, match="share the limit key 'stripe'"):

        @runner.task(limit=Limit(3, key="stripe"))
        async def payout() -> None: ...

    with pytest.raises(ConfigurationError, match="share the rate key 'api:\\{n\\}'"):

        @runner.task(rate=Rate(10, per=2.0, key="api:{n}"))
        async def lookup(n: int) -> None: ...

    assert set(runner.tasks) == {charge.name, refund.name, audit.name}


async def test_no_more_than_the_limit_run_and_the_rest_say_why(runner: TaskRunner) -> None:
    running: dict[int, int] = {}
    peak: dict[int, int] = {}
    gate, four_running = asyncio.Event(), asyncio.Event()

    @runner.task(limit=Limit(2, key="customer:{customer_id}"))
    async def sync(customer_id: int) -> None:
        running[customer_id] = running.get(customer_id, 0) + 1
        peak[customer_id] = max(peak.get(customer_id, 0), running[customer_id])
        if sum(running.values()) == 4:
            four_running.set()
        await gate.wait()
        running[customer_id] -= 1

    jobs = [await sync.enqueue(n % 2) for n in range(8)]
    async with runner.worker(concurrency=8):
        await asyncio.wait_for(four_running.wait(), 10)
        await asyncio.sleep(0.1)
        held = [await runner.get_job(job.id) for job in jobs]
        waiting = [info for info in held if info.state is JobState.QUEUED]
        assert len(waiting) == 4
        assert all(info.held_by and info.held_by.kind is HoldKind.LIMIT for info in waiting)
        assert "'customer:0'" in str(waiting[0].held_by) or "'customer:1'" in str(
            waiting[0].held_by
        )
        gate.set()
        for job in jobs:
            await job.result(timeout=10)
    assert peak == {0: 2, 1: 2}


async def test_a_rate_holds_starts_and_says_why(runner: TaskRunner) -> None:
    started: list[float] = []
    three_started = asyncio.Event()

    @runner.task(rate=Rate(3, per=60, key="api"))
    async def call() -> None:
        started.append(asyncio.get_running_loop().time())
        if len(started) == 3:
            three_started.set()

    jobs = [await call.enqueue() for _ in range(5)]
    async with runner.worker(concurrency=5):
        await asyncio.wait_for(three_started.wait(), 10)
        await asyncio.sleep(0.2)
        infos = [await runner.get_job(job.id) for job in jobs]
    assert len(started) == 3
    waiting = [info for info in infos if info.state is JobState.QUEUED]
    assert len(waiting) == 2
    assert all(info.held_by and info.held_by.kind is HoldKind.RATE for info in waiting)
    assert "'api' had its 3 starts in the last 60s" in str(waiting[0].held_by)


def test_the_cli_works_out_keys_and_shows_them() -> None:
    from typer.testing import CliRunner

    from taskrunner.cli import app
    from tests.apps.limited import runner as app_runner

    cli = CliRunner()
    made = cli.invoke(app, ["enqueue", "crm.sync", "[7]", "--app", "tests.apps.limited:runner"])
    assert made.exit_code == 0, made.output
    job_id = made.output.split()[0]
    shown = cli.invoke(app, ["job", job_id, "tests.apps.limited:runner"])
    assert "limit key customer:7   rate key crm.sync" in shown.output, shown.output
    bad = cli.invoke(app, ["enqueue", "crm.sync", "[]", "--app", "tests.apps.limited:runner"])
    assert bad.exit_code != 0 and "customer_id" in bad.output
    assert len(app_runner.tasks) == 1
