"""Running a runner's jobs in a test until nothing is due: `drain` (no time passes, or
every wait skipped) and `advance` (time passes, with a worker running all along).

Both run burst workers, the real claim-run-report path. Moving time steps the runner's
`Clock` to each moment at which something falls due by itself (a delayed job, a retry after
its backoff, a recurring tick, a rate window opening, a dead worker's lease running out),
running what is due at each, so a test sees what that much real time would have given.
"""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from typing import Any

from taskrunner.backend import AttemptOutcome, JobRecord
from taskrunner.runner import TaskRunner
from taskrunner.testing.clock import clock_of, duration
from taskrunner.testing.report import DrainLimitExceeded, DrainReport
from taskrunner.testing.stored import UNFINISHED, is_tick, stored_jobs
from taskrunner.worker.scheduler import enqueue_next_ticks

DEFAULT_LIMIT = 10_000


async def drain(
    runner: TaskRunner,
    *,
    advance_clock: bool = False,
    limit: int | None = DEFAULT_LIMIT,
    **settings: Any,
) -> DrainReport:
    """Run every job that is due, and every job those make due, until nothing is due and
    nothing runs; answer the attempts that ran (`DrainReport`).

    No time passes: a retry waiting for its backoff or a delayed job stays scheduled. With
    `advance_clock=True` (a runner on a `Clock`), the clock moves to each next moment
    something falls due instead, until no job is left but recurring tasks' next ticks.

    More than `limit` attempts (None: no bound) raise `DrainLimitExceeded`: an endless
    retry loop fails the test instead of hanging it. Other keyword arguments are worker
    settings (`queues=`, `concurrency=`, ...).
    """
    async with DrainSession(runner, limit, settings) as session:
        if advance_clock:
            await session.step_through(end=None)
        else:
            await session.run_due()
    return session.report


async def advance(
    runner: TaskRunner,
    seconds: float | timedelta = 0,
    *,
    minutes: float = 0,
    hours: float = 0,
    days: float = 0,
    limit: int | None = DEFAULT_LIMIT,
    **settings: Any,
) -> DrainReport:
    """Let this much time pass on the runner's `Clock` with a worker running all along:
    each recurring tick, delayed job, retry and lease expiry in that span happens at its
    moment, in order, and at once. Answers the attempts that ran (`DrainReport`).

    `limit` and worker settings as for `drain`; the clock ends exactly that much later.
    """
    span = duration(seconds, minutes=minutes, hours=hours, days=days)
    clock, _ = clock_of(runner)
    async with DrainSession(runner, limit, settings) as session:
        await session.step_through(end=clock() + span)
    return session.report


class DrainSession:
    """One drain: the runner's startup hooks run once for all of its burst workers, and
    every attempt they run is added to `report`."""

    def __init__(self, runner: TaskRunner, limit: int | None, settings: dict[str, Any]) -> None:
        self.runner = runner
        self.limit = limit
        self.settings = settings
        self.report = DrainReport()
        self.steps = 0
        self.recurring = [t for t in runner.tasks.values() if t.settings.schedule is not None]

    async def __aenter__(self) -> DrainSession:
        await self.runner.connect()
        await self.runner.start_resources()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.runner.stop_resources()

    async def run_due(self) -> None:
        """Run a burst worker: every due job, until none is due and none runs."""
        ended: list[tuple[JobRecord, AttemptOutcome]] = []
        worker = self.runner.worker(burst=True, **self.settings)
        room = None if self.limit is None else self.limit - len(self.report)

        def attempt_ended(record: JobRecord, outcome: AttemptOutcome, _: float) -> None:
            ended.append((record, outcome))
            if room is not None and len(ended) > room:
                worker.stop()

        worker.on_attempt_end = attempt_ended
        await worker.run()
        await self.report.add(self.runner, ended)
        if self.limit is not None and len(self.report) > self.limit:
            raise DrainLimitExceeded(self.limit, self.report)

    async def step_through(self, end: float | None) -> None:
        """Move the clock to each moment something falls due, up to `end`, running what is
        due at each; `end=None`: until no job is left but recurring ticks."""
        clock, backend = clock_of(self.runner)
        while True:
            await self.enqueue_ticks()
            await self.run_due()
            moment = await backend.next_change()
            if moment is None or moment <= clock() or (end is not None and moment > end):
                break  # (a moment already passed was just run: nothing is left to step to)
            if end is None and not await self.work_left():
                break
            self.steps += 1
            if self.limit is not None and self.steps > self.limit:
                raise DrainLimitExceeded(self.limit, self.report, "moves of the clock")
            clock.jump_to(moment)
        if end is not None and clock() < end:
            clock.jump_to(end)
            await self.enqueue_ticks()
            await self.run_due()

    async def enqueue_ticks(self) -> None:
        """Enqueue the recurring tasks' next ticks, as a running worker's scheduler does."""
        if self.recurring:
            await enqueue_next_ticks(self.runner, self.recurring)

    async def work_left(self) -> bool:
        """Whether a job is unfinished, recurring ticks aside."""
        jobs = await stored_jobs(self.runner)
        return any(job.state in UNFINISHED and not is_tick(job) for job in jobs)
