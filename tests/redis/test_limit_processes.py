"""Limits across real `taskrunner run` processes sharing one Redis: never more than the limit
running per key, as a ledger of starts and ends replays it, even when a worker holding slots
is killed (its slots come back once its leases expire)."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskrunner import TaskRunner
from tests.helpers import eventually
from tests.procs import worker_processes
from tests.redis.apps.limited import MAX_PER_GROUP, make_runner
from tests.redis.conftest import Ledger

APP = "tests.redis.apps.limited:runner"
GROUPS = 4
JOBS = 120
pytestmark = pytest.mark.slow


@pytest.fixture
async def runner(redis_url: str) -> AsyncIterator[TaskRunner]:
    runner = make_runner(redis_url)
    await runner.connect()
    yield runner
    await runner.close()


def peaks(events: list[str]) -> dict[str, int]:
    """The most attempts of each group the ledger shows running at once. Each attempt's
    interval in the ledger lies within its slot's, so a peak here is never above the truth."""
    running: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    for event in events:
        kind, group, *_ = event.split(":")
        running[group] += 1 if kind == "start" else -1  # an end, or a lost attempt
        peak[group] = max(peak[group], running[group])
    return dict(peak)


def ended(events: list[str]) -> set[str]:
    """The job ids whose attempt ran to its end."""
    return {event.split(":")[3] for event in events if event.startswith("end:")}


async def test_four_processes_never_run_more_than_the_limit_per_key(
    runner: TaskRunner, ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    task = runner.tasks["limited.run"]
    jobs = await runner.enqueue_many(task.prepare(n % GROUPS) for n in range(JOBS))
    with worker_processes(APP, 4, "--concurrency", "8", log_dir=tmp_path, env=worker_env):

        async def all_ended() -> bool:
            return len(ended(await ledger.entries(":flow"))) == JOBS

        await eventually(all_ended, timeout=120)
    events = await ledger.entries(":flow")
    assert ended(events) == {job.id for job in jobs}
    assert max(peaks(events).values()) <= MAX_PER_GROUP
    assert max(peaks(events).values()) == MAX_PER_GROUP  # the limit, not less, ran at once


async def test_a_killed_worker_gives_its_slots_back_after_its_leases(
    runner: TaskRunner, ledger: Ledger, worker_env: dict[str, str], tmp_path: Path
) -> None:
    task = runner.tasks["limited.run"]
    jobs = await runner.enqueue_many(task.prepare(n % GROUPS, sleep=0.5) for n in range(40))
    args = ("--concurrency", "8", "--lease", "1")
    with worker_processes(APP, 3, *args, log_dir=tmp_path, env=worker_env) as procs:
        await eventually(lambda: ledger.entries(":flow"), timeout=60)
        # the worker that runs the first job is killed, slots and all
        first_pid = int((await ledger.entries(":flow"))[0].split(":")[2])
        (doomed,) = [proc for proc in procs if proc.pid == first_pid]
        doomed.signal(signal.SIGKILL)
        await doomed.wait()
        # its unfinished attempts ended with it: mark them lost (their slots stay taken until
        # their leases expire, later than this mark, so the replay stays sound)
        events = await ledger.entries(":flow")
        starts = {e[6:] for e in events if e.startswith("start:") and f":{doomed.pid}:" in e}
        for entry in starts - {e[4:] for e in events if e.startswith("end:")}:
            await ledger.client.rpush(ledger.key + ":flow", f"lost:{entry}")

        async def all_ended() -> bool:
            return len(ended(await ledger.entries(":flow"))) == len(jobs)

        await eventually(all_ended, timeout=120)
    events = await ledger.entries(":flow")
    assert max(peaks(events).values()) <= MAX_PER_GROUP
    for job in jobs:
        assert (await runner.get_job(job.id)).state.value == "succeeded"
