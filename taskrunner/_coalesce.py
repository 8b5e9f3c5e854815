"""Concurrent enqueues stored in one backend call.

A busy web process has many request handlers enqueueing at once, each awaiting its own round
trip. While one call to the backend's `enqueue` is in flight, the calls that arrive wait
together, and go as one call (one script run, one statement, one commit) when it ends:

- a lone enqueue goes straight to the backend, as it would without this;
- a backend may take several shared calls at once (`ConcurrentEnqueues`: Postgres takes 2,
  each on a connection of its own, so that one's commit overlaps the other's), while the
  calls in flight are small; the others take one at a time;
- after a shared call, the next one waits a turn of the loop, so that its callers, answered,
  can join it with their next enqueue (a caller that enqueues in a loop does);
- each call returns once its own jobs are stored (the backend call that carried them
  ended), and answers its own ids;
- if a shared call fails, each of its callers' jobs is stored again on its own, so that
  every caller gets its own answer or its own error (re-storing is safe: every backend
  takes a job id it already holds as a replay of the same enqueue);
- a caller cancelled before its jobs went is left out of the call: they are not stored.

Only plain enqueues share calls: not those in the caller's transaction, nor batch members or
jobs with dependencies (their errors name one job's batch or dependency).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from taskrunner.backend import Backend, NewJob, enqueue_lanes, enqueuer

Store = Callable[[Sequence[NewJob]], Awaitable[list[str]]]
MOST_JOBS = 1000  # jobs in one shared call at most; the rest go in the next
FEW_JOBS = 16  # a backend's further lanes open only while its calls in flight carry fewer


class Answer(Protocol):
    """Where a call's outcome goes: an asyncio future its caller awaits, or what a thread
    waits on (see `taskrunner._handover`)."""

    def done(self) -> bool: ...

    def set_result(self, result: list[str], /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...

    def cancel(self) -> bool: ...


@dataclass(slots=True)
class _Call:
    jobs: Sequence[NewJob]
    answer: Answer


class Coalescer:
    """Shares backend calls between the concurrent enqueues of one event loop (see the
    module's docstring). `store` is the backend's `enqueue`."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop, lanes: int = 1) -> None:
        self.store_jobs = store
        self.loop = loop
        self.lanes = lanes  # backend calls in flight at most
        self._waiting: deque[_Call] = deque()
        self._in_flight = 0
        self._in_flight_jobs = 0
        self._flushing: set[asyncio.Task[None]] = set()  # kept: the loop's references are weak

    @property
    def waiting(self) -> int:
        """How many calls wait for a backend call in flight to end."""
        return len(self._waiting)

    async def store(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store `jobs`, sharing a backend call with concurrent callers; their ids."""
        if self._in_flight:
            answer: asyncio.Future[list[str]] = self.loop.create_future()
            self._waiting.append(_Call(jobs, answer))
            self._hand_on()
            return await answer
        self._in_flight = 1
        try:
            return await self._carry(jobs)
        finally:
            self._in_flight -= 1
            self._hand_on()

    def submit(self, jobs: Sequence[NewJob], answer: Answer) -> None:
        """Store `jobs` with the next shared call, from plain code on the loop (no
        coroutine: a callback's); `answer` is given their ids, or the error."""
        self._waiting.append(_Call(jobs, answer))
        self._hand_on()

    async def _carry(self, jobs: Sequence[NewJob]) -> list[str]:
        """One backend call, its jobs counted while it is in flight."""
        self._in_flight_jobs += len(jobs)
        try:
            return await self.store_jobs(jobs)
        finally:
            self._in_flight_jobs -= len(jobs)

    def _lane_free(self) -> bool:
        """Whether another call may go now: none is in flight, or a further lane is free
        and the calls in flight are small (they mostly wait, on a commit's flush, say; big
        ones keep the server busy, and a call beside them would only split the next)."""
        if not self._in_flight:
            return True
        return self._in_flight < self.lanes and self._in_flight_jobs < FEW_JOBS

    def _hand_on(self) -> None:
        """Send the calls that wait, on each lane free."""
        while self._waiting and self._lane_free():
            self._in_flight += 1
            task = self.loop.create_task(self._flush(), name="taskrunner-enqueue")
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _flush(self) -> None:
        try:
            while self._waiting:
                calls = self._next_calls()
                if calls:
                    await self._send(calls)
                    # the callers just answered resume on the next turn of the loop; one
                    # that enqueues again at once joins the next call instead of going
                    # alone in it (8 callers in turn: calls of 8, not of 1 and 7 by turns)
                    await asyncio.sleep(0)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                while self._waiting:  # this task was cancelled (its loop is closing)
                    self._waiting.popleft().answer.cancel()

    def _next_calls(self) -> list[_Call]:
        calls: list[_Call] = []
        count = 0
        while self._waiting and (not calls or count + len(self._waiting[0].jobs) <= MOST_JOBS):
            call = self._waiting.popleft()
            if not call.answer.done():  # a caller cancelled while it waited is left out
                calls.append(call)
                count += len(call.jobs)
        return calls

    async def _send(self, calls: list[_Call]) -> None:
        try:
            await self._send_shared(calls)
        except asyncio.CancelledError:  # the loop is closing: no answer will come
            for call in calls:
                call.answer.cancel()  # (an answered call stays answered)
            raise

    async def _send_shared(self, calls: list[_Call]) -> None:
        try:
            ids = await self._carry([job for call in calls for job in call.jobs])
        except Exception as exc:
            if len(calls) == 1:
                _answer(calls[0], exc)
            else:
                await asyncio.gather(*(self._send_alone(call) for call in calls))
            return
        start = 0
        for call in calls:
            _answer(call, ids[start : start + len(call.jobs)])
            start += len(call.jobs)

    async def _send_alone(self, call: _Call) -> None:
        try:
            ids = await self._carry(call.jobs)
        except Exception as exc:
            _answer(call, exc)
        else:
            _answer(call, ids)


def _answer(call: _Call, outcome: list[str] | Exception) -> None:
    if call.answer.done():
        return
    if isinstance(outcome, Exception):
        call.answer.set_exception(outcome)
    else:
        call.answer.set_result(outcome)


class Enqueues:
    """A runner's way to store jobs: concurrent plain enqueues share backend calls through
    one `Coalescer` per event loop and backend; the others go straight to the backend."""

    def __init__(self) -> None:
        self._coalescer: Coalescer | None = None

    def coalescer(self, backend: Backend) -> Coalescer:
        """The coalescer of plain enqueues on `backend`, on the running loop."""
        store = enqueuer(backend, None)
        loop = asyncio.get_running_loop()
        current = self._coalescer
        if current is None or current.loop is not loop or current.store_jobs != store:
            current = self._coalescer = Coalescer(store, loop, enqueue_lanes(backend))
        return current

    def store(self, backend: Backend, connection: Any, alone: bool) -> Store:
        """How to store jobs on `backend` (in `connection`'s transaction, if given); `alone`:
        they have a batch or dependencies, so one job may fail its call (not shared)."""
        if connection is not None or alone:
            return enqueuer(backend, connection)  # ConfigurationError if it cannot
        return self.coalescer(backend).store
