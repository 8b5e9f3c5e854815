"""What a drain answers: every attempt it ran, and how each ended (`DrainReport`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskrunner._serialization import decode_payload
from taskrunner.backend import AttemptOutcome, JobRecord
from taskrunner.errors import JobError, TaskrunnerError
from taskrunner.job import utc_time
from taskrunner.runner import TaskRunner
from taskrunner.task import Task
from taskrunner.testing.stored import call_text, task_name


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt a drain ran: the job and its call, which try it was, when it started on
    the backend's clock, how it ended (`outcome`) and, if it raised, the error."""

    job_id: str
    task: str
    args: list[Any] | None
    kwargs: dict[str, Any] | None
    attempt: int
    started_at: datetime
    outcome: AttemptOutcome
    error: JobError | None = None

    def __str__(self) -> str:
        line = f"{call_text(self.task, self.args, self.kwargs)} attempt {self.attempt}: "
        line += f"{self.outcome.value} at {self.started_at.isoformat()}"
        if self.error is not None:
            line += f" ({self.error.type}: {self.error.message})"
        return line


class DrainReport:
    """The attempts a drain ran, in the order they ended. Iterate over it, or ask `of(task)`
    and `outcomes(task)`; `str(report)` lists them one a line."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    def __len__(self) -> int:
        return len(self.attempts)

    def __iter__(self) -> Iterator[Attempt]:
        return iter(self.attempts)

    def __str__(self) -> str:
        return "\n".join(map(str, self.attempts)) or "no attempt ran"

    def __repr__(self) -> str:
        return f"<DrainReport of {len(self.attempts)} attempts>"

    def of(self, task: Task[..., Any] | str) -> list[Attempt]:
        """The attempts of `task`'s jobs (a task or its name)."""
        name = task_name(task)
        return [attempt for attempt in self.attempts if attempt.task == name]

    def outcomes(self, task: Task[..., Any] | str | None = None) -> list[AttemptOutcome]:
        """How each attempt (of `task`'s jobs, if given) ended, in order."""
        chosen = self.attempts if task is None else self.of(task)
        return [attempt.outcome for attempt in chosen]

    @property
    def job_ids(self) -> list[str]:
        """Each job that ran, once, in the order of its first attempt's end."""
        return list(dict.fromkeys(attempt.job_id for attempt in self.attempts))

    async def add(
        self, runner: TaskRunner, ended: Sequence[tuple[JobRecord, AttemptOutcome]]
    ) -> None:
        """Add the attempts that ended (the claimed record, and how it ended), with the
        errors the backend recorded for them."""
        infos = await runner.get_jobs(list(dict.fromkeys(record.id for record, _ in ended)))
        errors = {
            (info.id, attempt.attempt): attempt.error
            for info in infos
            if info is not None
            for attempt in info.attempts
        }
        for record, outcome in ended:
            try:
                args, kwargs = decode_payload(record.payload)
            except TaskrunnerError:
                args, kwargs = None, None
            self.attempts.append(
                Attempt(
                    job_id=record.id,
                    task=record.task,
                    args=args,
                    kwargs=kwargs,
                    attempt=record.attempt,
                    started_at=utc_time(record.started_at or 0.0),
                    outcome=outcome,
                    error=errors.get((record.id, record.attempt)),
                )
            )


class DrainLimitExceeded(TaskrunnerError):
    """A drain (or eager mode) ran more attempts, or moved its clock more times, than its
    `limit`: most often a job that retries, snoozes or enqueues itself without end. `report`
    holds the attempts it ran."""

    def __init__(self, limit: int, report: DrainReport, what: str = "attempts") -> None:
        self.limit = limit
        self.report = report
        last = "\n".join(f"  {attempt}" for attempt in report.attempts[-5:])
        super().__init__(
            f"the drain went past its limit of {limit} {what} and work was still due: a job "
            "that retries, snoozes or enqueues itself without end? (pass a higher limit= if "
            f"that much is expected). The last attempts:\n{last or '  none'}"
        )
