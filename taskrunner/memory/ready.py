"""One queue's ready jobs, in the order claims take them.

Entries are `(priority, run_at, seq, version, id)` tuples, taken smallest first. Most jobs
enter in that order already (due now, enqueued one after another: each entry is larger than
the one before), so they go to a first-in first-out `run`, where taking one costs no
comparison; an entry smaller than the run's last (a higher priority, a retry or a delayed job
due earlier than the last entry) goes to a `heap`. Each part is in order; `pop` takes the
smaller of the two heads, so the order is the one a single heap gives.
"""

from __future__ import annotations

import heapq
from collections import deque

Entry = tuple[int, float, int, int, str]


class Ready:
    """One queue's ready entries (see the module's doc). True while it holds any."""

    __slots__ = ("heap", "run")

    def __init__(self) -> None:
        self.run: deque[Entry] = deque()
        self.heap: list[Entry] = []

    def __bool__(self) -> bool:
        return bool(self.run) or bool(self.heap)

    def __len__(self) -> int:
        return len(self.run) + len(self.heap)

    def push(self, entry: Entry) -> None:
        run = self.run
        if not run or entry >= run[-1]:
            run.append(entry)
        else:
            heapq.heappush(self.heap, entry)

    def head(self) -> Entry:
        """The entry `pop` answers next (the ready entries must not be empty)."""
        run, heap = self.run, self.heap
        if heap and (not run or heap[0] < run[0]):
            return heap[0]
        return run[0]

    def pop(self) -> Entry:
        """Take the smallest entry (the ready entries must not be empty)."""
        run, heap = self.run, self.heap
        if heap and (not run or heap[0] < run[0]):
            return heapq.heappop(heap)
        return run.popleft()

    def take(self, most: int) -> list[Entry]:
        """Take the `most` smallest entries (fewer if it holds fewer), smallest first: `pop`
        `most` times, in one call (a claim takes its jobs so)."""
        run, heap = self.run, self.heap
        if heap:
            return [self.pop() for _ in range(min(most, len(run) + len(heap)))]
        if most >= len(run):
            taken = list(run)
            run.clear()
            return taken
        return [run.popleft() for _ in range(most)]


def take_in_order(readies: list[Ready], most: int) -> list[Entry]:
    """Take up to `most` entries from the queues' `readies`, in the order a claim takes
    them (the smallest head first; from one queue, in one call), dropping the queues that
    run empty."""
    if len(readies) == 1:
        taken = readies[0].take(most)
        if not readies[0]:
            readies.clear()
        return taken
    entries: list[Entry] = []
    while readies and len(entries) < most:
        ready = min(readies, key=Ready.head)
        entries.append(ready.pop())
        if not ready:
            readies.remove(ready)
    return entries
