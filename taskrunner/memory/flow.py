"""Limits and rates in the memory backend: which claims a job may take, and the jobs set
aside meanwhile.

A claim asks `FlowGate.admit` about each job with a limit or rate key it pops. A job that
may not run now is set aside in a heap of its (queue, key), in claim order, where no claim
looks at it again (so 10,000 of them block nobody), until a slot of its limit key frees
(`free_slot`) or its rate window opens (`open_windows`): then the best of them go back to
the ready heap through `requeue`. Handing back more than can run is harmless (the next claim
sets them aside again); handing back too few would leave a job stuck, so every way a slot
or a chance to run can go unused hands back again (`refill`).

A new job due now may be set aside at once (`parks`), so that no claim meets it: when its
limit key already has set-aside jobs at its priority or better (which run before it in any
case), or when enqueues queued max + `PARK_MARGIN` jobs of its key and priority since a slot
of the key last freed or a queued job of it was cancelled or purged (`backlog`). Each of
those is then still queued (a claim will meet it), set aside behind running jobs, or running,
so an end or a cancel of one of the key's jobs is still to come, and hands back in turn. A
backlog stored before any worker starts costs its first claims a hundred jobs or so, not one
look per job.

Rates are an exact sliding window: the last `rate_max` start times of each key, and a start
is allowed while fewer than `rate_max` of them fall in the last `rate_per` seconds.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from taskrunner.backend import Held, JobRecord

Place = tuple[str, str]  # (queue, key)
Entry = tuple[int, float, int, int, str]  # claim order, then (version, id) to skip stale ones
PARK_MARGIN = 100  # queued jobs of a key and priority, beyond its max, that an enqueue parks behind


@dataclass(slots=True)
class Window:
    """The recent starts of one rate key, and the numbers of the last job that used it."""

    starts: deque[float] = field(default_factory=deque)
    rate_max: int = 1
    per: float = 1.0

    def trim(self, now: float) -> None:
        starts, since = self.starts, now - self.per
        while starts and (starts[0] <= since or len(starts) > self.rate_max):
            starts.popleft()

    def opens_at(self, now: float) -> float:
        """When the next start is allowed (now, if one is)."""
        if len(self.starts) < self.rate_max:
            return now
        return self.starts[-self.rate_max] + self.per


class FlowGate:
    """The running counts, recent starts and set-aside jobs of every limit and rate key.
    `requeue(job_id)` puts a set-aside job back where a claim finds it, if it is still
    queued and not already back (the store's `requeue_held`)."""

    def __init__(self, requeue: Callable[[str, int], bool]) -> None:
        self.requeue = requeue
        self.running: dict[Place, int] = {}
        self.limit_held: dict[Place, list[Entry]] = {}
        self.windows: dict[Place, Window] = {}
        self.rate_held: dict[Place, list[Entry]] = {}
        self.openings: list[tuple[float, str, str]] = []  # (when, queue, rate key)
        # per limit key and priority: the jobs enqueues queued due since the key last freed a
        # slot or lost a queued job (see `parks`)
        self.backlog: dict[Place, dict[int, int]] = {}

    def admit(self, job: JobRecord, entry: Entry, now: float) -> bool:
        """Whether `job` may start now; if so it takes its slot and its start, else it is
        set aside (its `held` says why)."""
        queue = job.queue
        if job.limit_key is not None:
            place = (queue, job.limit_key)
            if self.running.get(place, 0) >= job.limit_max:
                self.hold_for_limit(job, place, entry)
                return False
        if job.rate_key is not None:
            place = (queue, job.rate_key)
            window = self.windows.get(place) or self.windows.setdefault(place, Window())
            window.rate_max, window.per = job.rate_max, job.rate_per
            window.trim(now)
            if len(window.starts) >= job.rate_max:
                job.held = Held.RATE
                heapq.heappush(self.rate_held.setdefault(place, []), entry)
                heapq.heappush(self.openings, (window.opens_at(now), queue, job.rate_key))
                return False
            window.starts.append(now)
        if job.limit_key is not None:
            place = (queue, job.limit_key)
            self.running[place] = self.running.get(place, 0) + 1
        job.held = None
        return True

    def hold_for_limit(self, job: JobRecord, place: Place, entry: Entry) -> None:
        """Set `job` aside until a slot of its limit key frees."""
        job.held = Held.LIMIT
        heapq.heappush(self.limit_held.setdefault(place, []), entry)

    def parks(self, job: JobRecord) -> bool:
        """Whether a new job, due now, is set aside at once rather than queued (see the
        module's doc); if not, it counts in its key's backlog."""
        if job.limit_key is None:
            return False
        place = (job.queue, job.limit_key)
        held = self.limit_held.get(place)
        if held and held[0][0] <= job.priority:
            return True
        levels = self.backlog.get(place) or self.backlog.setdefault(place, {})
        count = levels.get(job.priority, 0)
        if count >= job.limit_max + PARK_MARGIN:
            return True
        levels[job.priority] = count + 1
        return False

    def park(self, job: JobRecord, entry: Entry) -> None:
        """Set aside a new job that `parks` said to set aside."""
        if job.limit_key is not None:
            self.hold_for_limit(job, (job.queue, job.limit_key), entry)

    def free_slot(self, job: JobRecord) -> None:
        """`job`'s running attempt ended: its limit slot frees, and held jobs may run."""
        if job.limit_key is None:
            return
        place = (job.queue, job.limit_key)
        self.backlog.pop(place, None)
        left = self.running.get(place, 0) - 1
        if left > 0:
            self.running[place] = left
        else:
            self.running.pop(place, None)
        self.refill(job.queue, job.limit_key, job.limit_max)

    def refill(self, queue: str, key: str, limit_max: int) -> None:
        """Hand back as many of the key's set-aside jobs as it has free slots."""
        place = (queue, key)
        self._hand_back(self.limit_held, place, limit_max - self.running.get(place, 0))

    def open_windows(self, now: float) -> None:
        """Hand back the jobs whose rate window has opened by `now`."""
        openings = self.openings
        while openings and openings[0][0] <= now:
            _, queue, key = heapq.heappop(openings)
            place = (queue, key)
            window = self.windows.get(place)
            if window is None:
                continue
            window.trim(now)
            self._hand_back(self.rate_held, place, window.rate_max - len(window.starts))
            if self.rate_held.get(place):  # the rest wait for the next opening
                later = max(window.opens_at(now), now + window.per / window.rate_max)
                heapq.heappush(openings, (later, queue, key))

    def next_opening(self) -> float | None:
        return self.openings[0][0] if self.openings else None

    def _hand_back(self, held: dict[Place, list[Entry]], place: Place, free: int) -> None:
        heap = held.get(place)
        while heap and free > 0:
            _, _, _, version, job_id = heapq.heappop(heap)
            if self.requeue(job_id, version):
                free -= 1
        if heap is not None and not heap:
            del held[place]

    def left_unrun(self, job: JobRecord) -> None:
        """A queued `job` was cancelled or purged: if it has a limit key, it may have been
        handed a free slot, which goes to the next held job instead."""
        if job.limit_key is not None:
            self.backlog.pop((job.queue, job.limit_key), None)
            self.refill(job.queue, job.limit_key, job.limit_max)
