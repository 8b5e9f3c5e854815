"""The outcomes a worker holds until the backend has them: reported in batches, kept (and
still heartbeated) while a report fails, so that no finished attempt is forgotten; what
follows an outcome once the backend accepted it (its hooks) is started then."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from taskrunner.backend import Backend, Outcome, faults

log = logging.getLogger("taskrunner.worker")

UNREPORTED_AHEAD = 1_000
"""How many outcomes (or the worker's concurrency, if more) a worker may hold unreported
and still claim: beyond them, its claims wait for the backend to take the reports."""


@dataclass(slots=True)
class Outbox:
    """Outcomes waiting to be reported (`pending`) or being reported now (`inflight`), and
    what to call once the backend accepted one (`then`, by job id and attempt)."""

    def __post_init__(self) -> None:
        self.idle.set()

    pending: list[Outcome] = field(default_factory=list)
    inflight: list[Outcome] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # no report in flight
    then: dict[tuple[str, int], Callable[[], None]] = field(default_factory=dict)

    @property
    def unreported(self) -> list[Outcome]:
        return self.pending + self.inflight

    def __len__(self) -> int:
        """How many outcomes the backend does not have yet."""
        return len(self.pending) + len(self.inflight)

    def add(self, outcome: Outcome, then: Callable[[], None] | None = None) -> None:
        """Hold `outcome` and wake the flush loop; `then` is called once it is accepted.
        Outcomes already pending have woken it: it takes them all, the new one with them."""
        if not self.pending:
            self.wake.set()
        self.pending.append(outcome)
        if then is not None:
            self.then[outcome.job_id, outcome.attempt] = then

    async def flush_once(self, backend: Backend) -> int:
        """Report the pending outcomes in one batch; answers how many the backend rejected.
        If the report fails, they are pending again (ahead of newer ones) and it raises."""
        batch, self.pending = self.pending, []
        self.inflight = batch
        self.idle.clear()
        if faults.ARMED is not None:
            faults.reached("before_complete")
        try:
            accepted = await backend.finish(batch)
        except BaseException:
            self.pending[:0] = batch
            raise
        finally:
            self.inflight = []
            self.idle.set()
        if faults.ARMED is not None:
            faults.reached("after_complete")
        if not self.then and len(accepted) == len(batch) and all(accepted):
            return 0  # no hooks to start, no rejection to warn of
        rejected = 0
        for outcome, ok in zip(batch, accepted, strict=True):
            follow = self.then.pop((outcome.job_id, outcome.attempt), None) if self.then else None
            if ok and follow is not None:
                follow()
            if not ok:
                rejected += 1
                log.warning(
                    "job %s: outcome of attempt %d rejected: the job no longer runs that "
                    "attempt (its lease expired and another took over, or a resent report "
                    "had already been applied)",
                    outcome.job_id,
                    outcome.attempt,
                )
        return rejected
