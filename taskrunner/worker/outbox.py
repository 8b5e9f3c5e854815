"""The outcomes a worker holds until the backend has them: reported in batches, kept (and
still heartbeated) while a report fails, so that no finished attempt is forgotten."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from taskrunner.backend import Backend, Outcome, faults

log = logging.getLogger("taskrunner.worker")


@dataclass(slots=True)
class Outbox:
    """Outcomes waiting to be reported (`pending`) or being reported now (`inflight`)."""

    pending: list[Outcome] = field(default_factory=list)
    inflight: list[Outcome] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def unreported(self) -> list[Outcome]:
        return self.pending + self.inflight

    def add(self, outcome: Outcome) -> None:
        """Hold `outcome` and wake the flush loop."""
        self.pending.append(outcome)
        self.wake.set()

    async def flush_once(self, backend: Backend) -> int:
        """Report the pending outcomes in one batch; answers how many the backend rejected.
        If the report fails, they are pending again (ahead of newer ones) and it raises."""
        batch, self.pending = self.pending, []
        self.inflight = batch
        if faults.ARMED is not None:
            faults.reached("before_complete")
        try:
            accepted = await backend.finish(batch)
        except BaseException:
            self.pending[:0] = batch
            raise
        finally:
            self.inflight = []
        if faults.ARMED is not None:
            faults.reached("after_complete")
        rejected = 0
        for outcome, ok in zip(batch, accepted, strict=True):
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
