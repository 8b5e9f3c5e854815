"""Reading batches: a batch's own record (`BatchHead`, in its slot) and its parts on the
queues it has members on (`Part`, one per queue, in that queue's slot), put together into
a `BatchView` that answers the `BatchRecord`. See batches.py for the layout and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from taskrunner.backend import BatchRecord, JobState
from taskrunner_redis.records import MICROS, state_counts
from taskrunner_redis.store import RedisStore, queue_names

# the fields of a batch's hash a read needs, in this order
HEAD_FIELDS = ("created_at", "closed", "closed_at", "ttl", "success_fired", "complete_fired",
               "on_success_id", "on_complete_id")  # fmt: skip
UNFINISHED = (JobState.WAITING, JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING)


@dataclass(slots=True)
class BatchHead:
    """A batch's own record, as batch_open and batch_close wrote it (times in us)."""

    id: str
    created_at: int
    closed: bool
    closed_at: int | None
    ttl_us: int  # -1: kept until purged
    success_fired: bool
    complete_fired: bool
    on_success: str | None
    on_complete: str | None
    queues: list[str]


@dataclass(slots=True)
class Part:
    """A batch's part on one queue, as batch_part.lua answers it."""

    queue: str
    total: int
    counts: dict[JobState, int]
    version: int
    ended_at: int | None  # when its last unfinished member ended (us)
    open: bool | None  # None: the part was never written
    mark: bytes | None  # its dirty mark on the queue, if any


@dataclass(slots=True)
class BatchView:
    """A batch and its parts, read at `now_us`."""

    head: BatchHead
    parts: list[Part] = field(default_factory=list)
    now_us: int = 0

    @property
    def counts(self) -> dict[JobState, int]:
        return {state: sum(p.counts[state] for p in self.parts) for state in JobState}

    @property
    def total(self) -> int:
        return sum(part.total for part in self.parts)

    @property
    def ended(self) -> bool:
        """Closed, with every part closed and no member unfinished."""
        counts = self.counts
        return (
            self.head.closed
            and all(part.open is False for part in self.parts)
            and not any(counts[state] for state in UNFINISHED)
        )

    @property
    def succeeded(self) -> bool:
        return self.ended and self.counts[JobState.SUCCEEDED] == self.total

    @property
    def ended_at_us(self) -> int | None:
        """When the closed batch's last member ended (its close, if that came later)."""
        if not self.ended or self.head.closed_at is None:
            return None
        ends = [p.ended_at for p in self.parts if p.ended_at is not None and p.total]
        return max([self.head.closed_at, *ends])

    @property
    def expired(self) -> bool:
        ended_at = self.ended_at_us
        ttl = self.head.ttl_us
        return ended_at is not None and ttl >= 0 and ended_at + ttl <= self.now_us

    @property
    def needs_settle(self) -> bool:
        """Whether a settle is due: a part is left open, or a callback not yet fired."""
        head = self.head
        if not head.closed:
            return False
        if any(part.open is not False for part in self.parts):
            return True
        return (self.ended and not head.complete_fired) or (
            self.succeeded and not head.success_fired
        )

    def record(self) -> BatchRecord:
        head, ended_at = self.head, self.ended_at_us
        return BatchRecord(
            id=head.id,
            created_at=head.created_at / MICROS,
            closed=head.closed,
            total=self.total,
            counts=self.counts,
            on_success=head.on_success,
            on_complete=head.on_complete,
            success_fired=head.success_fired,
            complete_fired=head.complete_fired,
            ended_at=None if ended_at is None else ended_at / MICROS,
        )


class BatchReader:
    """Reads batches through a store: heads in one round trip, parts in another."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    async def heads(self, ids: Sequence[str]) -> tuple[list[BatchHead | None], int]:
        """The batches' own records (None: unknown), and the Redis clock (us). The flag is
        read before the queues: once a batch reads as closed, its set of queues is final."""
        keys = self.store.keys

        def reads(pipe: Any) -> None:
            for batch_id in ids:
                pipe.hmget(keys.batch(batch_id, "batch"), HEAD_FIELDS)
                pipe.smembers(keys.batch(batch_id, "queues"))

        now_us, answers = await self.store.read_at_once(reads)
        heads = [
            parse_head(batch_id, answers[2 * i], answers[1 + 2 * i])
            for i, batch_id in enumerate(ids)
        ]
        return heads, now_us

    async def parts(self, heads: Sequence[BatchHead], close: bool = False) -> list[list[Part]]:
        """Each batch's parts, one script run per queue; `close` closes them first."""
        batches: dict[str, list[int]] = {}
        for i, head in enumerate(heads):
            for queue in head.queues:
                batches.setdefault(queue, []).append(i)
        _, scripts = self.store.connected()
        prefix, mode = self.store.prefix, "close" if close else "read"
        calls = [
            ("batch_part", self.store.keys.route(q), [prefix, q, mode, *(heads[i].id for i in at)])
            for q, at in batches.items()
        ]
        answers = await scripts.run_many(calls) if calls else []
        found: list[list[Part]] = [[] for _ in heads]
        for (queue, at), answer in zip(batches.items(), answers, strict=True):
            for i, row in zip(at, answer, strict=True):
                found[i].append(parse_part(queue, row))
        return found

    async def views(self, ids: Sequence[str]) -> list[BatchView | None]:
        """The batches as they stand (None: unknown, or their retention ended)."""
        heads, now_us = await self.heads(ids)
        known = [head for head in heads if head is not None]
        parts = iter(await self.parts(known))
        views: list[BatchView | None] = []
        for head in heads:
            view = None if head is None else BatchView(head, next(parts), now_us)
            views.append(None if view is None or view.expired else view)
        return views


def parse_head(batch_id: str, values: Sequence[bytes | None], queues: Any) -> BatchHead | None:
    created_at, closed, closed_at, ttl, success, complete, on_success, on_complete = values
    if created_at is None or closed is None:
        return None
    return BatchHead(
        id=batch_id,
        created_at=int(created_at),
        closed=closed == b"1",
        closed_at=None if closed_at is None else int(closed_at),
        ttl_us=-1 if ttl is None else int(ttl),
        success_fired=success == b"1",
        complete_fired=complete == b"1",
        on_success=None if on_success is None else on_success.decode(),
        on_complete=None if on_complete is None else on_complete.decode(),
        queues=sorted(queue_names(queues)),
    )


def parse_part(queue: str, row: Sequence[Any]) -> Part:
    total, version, ended_at, is_open, mark, *counts = row
    return Part(
        queue=queue,
        total=int(total),
        counts=state_counts(counts),
        version=int(version),
        ended_at=None if ended_at is None else int(ended_at),
        open=None if is_open is None else is_open == b"1",
        mark=mark,
    )
