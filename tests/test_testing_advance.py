"""Time passing in a test: `advance` and `drain(advance_clock=True)` step the clock through
every moment something falls due, and give what that much real time would have given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskrunner import AttemptOutcome, Backoff, JobNotFound, JobState, Rate, Snooze, cron, every
from taskrunner.testing import Clock, DrainLimitExceeded, Harness
from taskrunner.worker.scheduler import tick_key

NEW_YEAR = datetime(2030, 1, 1, tzinfo=UTC)  # a Tuesday
RETRY, SUCCEEDED = AttemptOutcome.RETRY, AttemptOutcome.SUCCEEDED


@pytest.fixture
def taskrunner_clock() -> Clock:
    """The plugin's clock fixture, started at a moment of the tests' choosing."""
    return Clock(NEW_YEAR)


async def test_three_hours_give_an_hourly_task_three_runs(taskrunner_harness: Harness) -> None:
    harness = taskrunner_harness
    runs: list[datetime] = []

    @harness.runner.task(schedule=every(hours=1))
    async def hourly() -> None:
        runs.append(harness.clock.now)

    report = await harness.advance(hours=3)
    assert runs == [NEW_YEAR + timedelta(hours=h) for h in (1, 2, 3)]
    assert report.outcomes(hourly) == [SUCCEEDED] * 3
    assert [a.started_at for a in report] == runs
    assert harness.clock.now == NEW_YEAR + timedelta(hours=3)
    await harness.assert_nothing_queued()  # the 04:00 tick waits, and does not count
    (pending,) = [job for job in await harness.enqueued() if job.state is JobState.SCHEDULED]
    assert pending.key == tick_key(hourly.name, (NEW_YEAR + timedelta(hours=4)).timestamp())


async def test_a_cron_schedule_ticks_on_its_wall_clock(taskrunner_harness: Harness) -> None:
    harness = taskrunner_harness
    runs: list[str] = []

    @harness.runner.task(schedule=cron("30 9 * * mon-fri", tz="Europe/Paris"))
    async def standup() -> None:
        runs.append(harness.clock.now.strftime("%a %H:%M"))

    await harness.advance(days=7)
    assert runs == ["Tue 08:30", "Wed 08:30", "Thu 08:30", "Fri 08:30", "Mon 08:30"]  # UTC


async def test_after_downtime_the_pending_tick_runs_once(taskrunner_harness: Harness) -> None:
    harness = taskrunner_harness
    runs: list[datetime] = []

    @harness.runner.task(schedule=every(hours=1))
    async def hourly() -> None:
        runs.append(harness.clock.now)

    await harness.advance(minutes=30)  # a worker ran, and enqueued the 01:00 tick
    harness.clock.jump(hours=10)  # then nothing ran for ten hours
    assert len(await harness.drain()) == 1
    assert runs == [NEW_YEAR + timedelta(hours=10, minutes=30)]
    await harness.advance(hours=2)
    assert runs[1:] == [NEW_YEAR + timedelta(hours=h) for h in (11, 12)]


async def test_retries_run_after_their_backoff(taskrunner_harness: Harness) -> None:
    harness = taskrunner_harness
    failures = [ConnectionError("down"), ConnectionError("still down")]

    @harness.runner.task(retries=3, backoff=Backoff(10, 6, jitter=False))
    async def sync_account(account_id: int) -> str:
        if failures:
            raise failures.pop(0)
        return f"account {account_id} synced"

    job = await sync_account.enqueue(5)
    report = await harness.advance(seconds=69)
    assert report.outcomes() == [RETRY, RETRY]  # the third attempt is due at 70s
    assert [a.error.message for a in report if a.error] == ["down", "still down"]
    report = await harness.advance(seconds=1)
    assert [(a.attempt, a.outcome, a.started_at) for a in report] == [
        (3, SUCCEEDED, NEW_YEAR + timedelta(seconds=70))
    ]
    assert await job.result() == "account 5 synced"


async def test_draining_with_the_clock_skips_every_wait(taskrunner_harness: Harness) -> None:
    harness = taskrunner_harness
    ran: list[str] = []

    @harness.runner.task(schedule=every(minutes=10))
    async def poll() -> None:
        ran.append("poll")

    @harness.runner.task
    async def remind(user: str) -> None:
        ran.append(user)

    await remind.options(delay=timedelta(minutes=25)).enqueue("ada")
    report = await harness.drain(advance_clock=True)
    assert ran == ["poll", "poll", "ada"]  # the ticks on the way ran too; then it stops
    assert harness.clock.now == NEW_YEAR + timedelta(minutes=25)
    assert len(report) == 3
    await harness.assert_nothing_queued()


async def test_a_delayed_job_runs_at_its_moment_not_before(taskrunner_harness: Harness) -> None:
    harness = taskrunner_harness

    @harness.runner.task
    async def remind() -> float:
        return harness.clock()

    job = await remind.options(delay=3600).enqueue()
    assert len(await harness.advance(minutes=59)) == 0
    await harness.advance(minutes=1)
    assert await job.result() == (NEW_YEAR + timedelta(hours=1)).timestamp()


async def test_a_dead_workers_job_runs_again_when_its_lease_ends(
    taskrunner_harness: Harness,
) -> None:
    harness = taskrunner_harness

    @harness.runner.task
    async def work() -> None:
        return None

    job = await work.enqueue()
    await harness.runner.backend.claim(["default"], 1, "a-worker-that-dies", 30.0)
    assert len(await harness.drain()) == 0  # still leased
    report = await harness.advance(minutes=5)
    assert [(a.attempt, a.started_at) for a in report] == [(2, NEW_YEAR + timedelta(seconds=30))]
    info = await job.info()
    assert [a.outcome for a in info.attempts] == [AttemptOutcome.LOST, SUCCEEDED]


async def test_finished_records_expire_with_the_clock(taskrunner_harness: Harness) -> None:
    harness = taskrunner_harness

    @harness.runner.task(result_ttl=3600)
    async def short_lived() -> int:
        return 1

    job = await short_lived.enqueue()
    await harness.drain()
    await harness.advance(minutes=59)
    assert (await job.info()).result == 1
    await harness.advance(minutes=1)
    with pytest.raises(JobNotFound):
        await job.info()


async def test_rate_windows_open_on_the_clock(taskrunner_harness: Harness) -> None:
    harness = taskrunner_harness

    @harness.runner.task(rate=Rate(2, per=10.0, key="api"))
    async def call_api(n: int) -> None:
        return None

    for n in range(5):
        await call_api.enqueue(n)
    report = await harness.drain(advance_clock=True)
    started = [(a.args, (a.started_at - NEW_YEAR).total_seconds()) for a in report]
    assert started == [([0], 0), ([1], 0), ([2], 10), ([3], 10), ([4], 20)]


async def test_an_endless_retry_loop_fails_the_test(taskrunner_harness: Harness) -> None:
    @taskrunner_harness.runner.task(retries=1_000_000, backoff=0)
    async def hopeless() -> None:
        raise ValueError("again")

    await hopeless.enqueue()
    with pytest.raises(DrainLimitExceeded, match="limit of 50 attempts") as raised:
        await taskrunner_harness.drain(limit=50)
    assert len(raised.value.report) > 50
    assert "hopeless() attempt 5" in str(raised.value)  # the last attempts are listed


async def test_a_job_that_snoozes_forever_fails_the_test(taskrunner_harness: Harness) -> None:
    @taskrunner_harness.runner.task
    async def waits_forever() -> None:
        raise Snooze(60)

    await waits_forever.enqueue()
    with pytest.raises(DrainLimitExceeded):
        await taskrunner_harness.drain(advance_clock=True, limit=20)
