"""A model of what a backend must do, and a Hypothesis state machine that holds a real
backend to it: every job in exactly one state, no job claimable twice under a live lease,
stale fencing tokens never change a job, `stats` agree with the jobs, and a claim takes
exactly the first due jobs that their limits and rates let run (never more running per
limit key than its max, never more starts per rate key than its n, nobody blocked behind a
held job), batches count their members, and a job with dependencies waits until they
succeeded (or ended, with run-anyway) and is cancelled, in cascade, when one fails.

Times are real but unambiguous: jobs are due now or in an hour, and leases last either
an hour or SHORT seconds, which the `leases_expire` rule waits out before reclaiming.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from taskrunner.backend import (
    Backend,
    Batches,
    Beat,
    Dependencies,
    JobState,
    LeaseStatus,
    NewBatch,
    NewJob,
    Outcome,
    OutcomeKind,
    new_job_id,
)

T = TypeVar("T")
SHORT = 0.05
LONG = 3600.0
LATER = 3600.0
QUEUES = ("a", "b")
WAITING = (JobState.QUEUED, JobState.SCHEDULED)
FINISHED = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)
# flow control: (key, max) of a limit, (key, n) of a rate whose window (LONG) never passes
LIMITS = st.sampled_from([None, None, ("L1", 1), ("L2", 2)])
RATES = st.sampled_from([None, None, None, ("R1", 1), ("R3", 3)])
Flow = tuple[str, int] | None


@dataclass
class ModelJob:
    id: str
    queue: str
    priority: int
    key: str | None
    state: JobState
    run_at: int  # the model's step counter when the job became due (or will, if scheduled)
    seq: int  # enqueue order
    max_attempts: int
    attempt: int = 0
    short_lease: bool = False
    cancel_requested: bool = False
    limit: Flow = None
    rate: Flow = None
    batch: str | None = None
    pending: set[str] = field(default_factory=set)  # dependencies not met yet
    anyway: bool = False
    later: bool = False


@dataclass
class ModelBatch:
    """A batch: its members, the final states of those whose records are gone, and
    whether its callbacks have fired (sticky, as in the backend)."""

    closed: bool = False
    members: list[str] = field(default_factory=list)
    gone: Counter[JobState] = field(default_factory=Counter)
    success_fired: bool = False
    complete_fired: bool = False


class BackendMachine(RuleBasedStateMachine):
    """Subclasses set `make_backend` (an async factory) and `drop_backend`."""

    make_backend: Callable[[], Awaitable[Backend]]
    drop_backend: Callable[[Backend], Awaitable[None]]

    jobs_bundle = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.backend: Backend = self.run(type(self).make_backend())
        self.jobs: dict[str, ModelJob] = {}
        self.keys: dict[tuple[str, str], str] = {}  # (queue, key) -> holder: unique per queue
        self.starts: dict[tuple[str, str], int] = {}  # (queue, rate key) -> starts so far
        self.batches: dict[str, ModelBatch] = {}
        self.step = 0
        self.seq = 0

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        try:
            self.run(type(self).drop_backend(self.backend))
        finally:
            self.loop.close()

    def tick(self) -> int:
        self.step += 1
        return self.step

    # -- rules -----------------------------------------------------------------------------

    @initialize(target=jobs_bundle)
    def first_job(self) -> str:
        return self.enqueue_one("a", 0, None, False)

    @rule(
        target=jobs_bundle,
        queue=st.sampled_from(QUEUES),
        priority=st.sampled_from([-1, 0, 1]),
        key=st.sampled_from([None, None, "k1", "k2"]),
        later=st.booleans(),
        limit=LIMITS,
        rate=RATES,
        join=st.booleans(),
        deps=st.sampled_from([0, 0, 0, 1, 2]),
        pick=st.integers(0, 10_000),
        anyway=st.booleans(),
    )
    def enqueue(
        self,
        queue: str,
        priority: int,
        key: str | None,
        later: bool,
        limit: Flow,
        rate: Flow,
        join: bool,
        deps: int,
        pick: int,
        anyway: bool,
    ) -> str:
        open_ones = [b for b, batch in self.batches.items() if not batch.closed]
        batch = open_ones[-1] if join and open_ones else None
        after: tuple[str, ...] = ()
        if batch is None and deps and self.jobs and isinstance(self.backend, Dependencies):
            stored = sorted(self.jobs)
            after = tuple(dict.fromkeys(stored[(pick + n * 7) % len(stored)] for n in range(deps)))
        return self.enqueue_one(
            queue, priority, key, later, limit, rate, batch, after, anyway and bool(after)
        )

    def enqueue_one(
        self,
        queue: str,
        priority: int,
        key: str | None,
        later: bool,
        limit: Flow = None,
        rate: Flow = None,
        batch: str | None = None,
        after: tuple[str, ...] = (),
        anyway: bool = False,
    ) -> str:
        new = NewJob(
            id=new_job_id(),
            task="model.task",
            queue=queue,
            payload=b"{}",
            priority=priority,
            max_attempts=2,
            key=key,
            delay=LATER if later else 0.0,
            limit_key=limit and limit[0],
            limit_max=limit[1] if limit else 0,
            rate_key=rate and rate[0],
            rate_max=rate[1] if rate else 0,
            rate_per=LONG if rate else 0.0,
            batch_id=batch,
            after=after,
            after_run_anyway=anyway,
        )
        (answer,) = self.run(self.backend.enqueue([new]))
        now = self.tick()
        holder = self.keys.get((queue, key)) if key is not None else None
        if holder is not None:
            assert answer == holder, "a held dedup key must return its holder"
            return holder
        assert answer == new.id
        self.seq += 1
        self.jobs[new.id] = ModelJob(
            id=new.id,
            queue=queue,
            priority=priority,
            key=key,
            state=JobState.SCHEDULED if later else JobState.QUEUED,
            run_at=now,
            seq=self.seq,
            max_attempts=2,
            limit=limit,
            rate=rate,
            batch=batch,
            anyway=anyway,
            later=later,
        )
        if batch is not None:
            self.batches[batch].members.append(new.id)
        if key is not None:
            self.keys[queue, key] = new.id
        if after:
            self.wait_on(self.jobs[new.id], after)
        return new.id

    def wait_on(self, job: ModelJob, after: tuple[str, ...]) -> None:
        """A new job's dependencies, judged as it is stored."""
        for dependency in after:
            state = self.jobs[dependency].state
            if state is JobState.SUCCEEDED or (job.anyway and state in FINISHED):
                continue
            if state in FINISHED:
                job.pending.clear()
                job.state = JobState.CANCELLED
                return
            job.pending.add(dependency)
        if job.pending:
            job.state = JobState.WAITING

    def ended(self, first: ModelJob) -> None:
        """Judge the jobs waiting on `first`, which just ended, and on those this cancels."""
        ended = [first]
        while ended:
            done = ended.pop()
            for job in self.jobs.values():
                if job.state is not JobState.WAITING or done.id not in job.pending:
                    continue
                if done.state is JobState.SUCCEEDED or job.anyway:
                    job.pending.discard(done.id)
                    if not job.pending:
                        job.state = JobState.SCHEDULED if job.later else JobState.QUEUED
                else:
                    job.pending.clear()
                    job.state = JobState.CANCELLED
                    ended.append(job)

    @rule(
        queues=st.sampled_from([("a",), ("b",), ("a", "b")]),
        limit=st.integers(1, 3),
        short=st.booleans(),
    )
    def claim(self, queues: tuple[str, ...], limit: int, short: bool) -> None:
        claimed = self.run(self.backend.claim(queues, limit, "w", SHORT if short else LONG))
        self.tick()
        due = sorted(
            (j for j in self.jobs.values() if j.state is JobState.QUEUED and j.queue in queues),
            key=lambda j: (j.priority, j.run_at, j.seq),
        )
        expected = self.admitted(due, limit)
        assert [r.id for r in claimed] == expected, "claim order or eligibility differs"
        for record in claimed:
            job = self.jobs[record.id]
            job.state, job.attempt = JobState.RUNNING, job.attempt + 1
            job.short_lease, job.cancel_requested = short, False
            assert record.attempt == job.attempt

    def admitted(self, due: list[ModelJob], limit: int) -> list[str]:
        """The ids a claim of `limit` takes from `due` (in claim order): each job whose limit
        key has a free slot and whose rate key has starts left, counting those taken."""
        running: dict[tuple[str, str], int] = {}
        for job in self.jobs.values():
            if job.state is JobState.RUNNING and job.limit is not None:
                place = (job.queue, job.limit[0])
                running[place] = running.get(place, 0) + 1
        taken: list[str] = []
        for job in due:
            if len(taken) == limit:
                break
            slot = job.limit and (job.queue, job.limit[0])
            if job.limit and slot and running.get(slot, 0) >= job.limit[1]:
                continue
            window = job.rate and (job.queue, job.rate[0])
            if job.rate and window and self.starts.get(window, 0) >= job.rate[1]:
                continue
            if slot:
                running[slot] = running.get(slot, 0) + 1
            if window:
                self.starts[window] = self.starts.get(window, 0) + 1
            taken.append(job.id)
        return taken

    @rule(job_id=jobs_bundle, stale=st.booleans(), short=st.booleans())
    def heartbeat(self, job_id: str, stale: bool, short: bool) -> None:
        job = self.jobs.get(job_id)
        attempt = (job.attempt if job else 1) - (1 if stale else 0)
        (status,) = self.run(
            self.backend.heartbeat([Beat(job_id, attempt)], SHORT if short else LONG)
        )
        self.tick()
        if job is None or job.state is not JobState.RUNNING or attempt != job.attempt:
            assert status is LeaseStatus.LOST
            return
        assert status is (LeaseStatus.CANCEL if job.cancel_requested else LeaseStatus.HELD)
        job.short_lease = short

    @rule(
        job_id=jobs_bundle,
        stale=st.booleans(),
        kind=st.sampled_from(list(OutcomeKind)),
        later=st.booleans(),
        expire=st.booleans(),
    )
    def finish(
        self, job_id: str, stale: bool, kind: OutcomeKind, later: bool, expire: bool
    ) -> None:
        job = self.jobs.get(job_id)
        attempt = (job.attempt if job else 1) - (1 if stale else 0)
        outcome = Outcome(
            job_id,
            attempt,
            kind,
            result=b"1",
            error=b'{"type":"E"}',
            delay=LATER if later else 0.0,
            ttl=0.0 if expire else None,
        )
        (accepted,) = self.run(self.backend.finish([outcome]))
        now = self.tick()
        owns = job is not None and job.state is JobState.RUNNING and attempt == job.attempt
        assert accepted == owns, "only the attempt that owns a job may finish it"
        if not owns or job is None:
            return
        if kind in (OutcomeKind.SUCCEEDED, OutcomeKind.FAILED, OutcomeKind.CANCELLED):
            job.state = JobState(kind.value)
            self.ended(job)
            if expire:  # a retention of 0: the record is gone at once, and so is its key
                self.forget(job)
        elif kind is OutcomeKind.RETRY:
            job.state = JobState.SCHEDULED if later else JobState.QUEUED
            job.run_at = now
        else:  # released: with its attempt given back, due after its delay, else as it was
            job.state = JobState.SCHEDULED if later else JobState.QUEUED
            if later:
                job.run_at = now
            job.max_attempts += 1

    @rule(job_id=jobs_bundle)
    def cancel(self, job_id: str) -> None:
        (state,) = self.run(self.backend.cancel([job_id], ttl=None))
        self.tick()
        job = self.jobs.get(job_id)
        if job is None:
            assert state is None
            return
        if job.state in (*WAITING, JobState.WAITING):
            job.state = JobState.CANCELLED
            self.ended(job)
        elif job.state is JobState.RUNNING:
            job.cancel_requested = True
        assert state is job.state

    @rule(job_id=jobs_bundle)
    def retry(self, job_id: str) -> None:
        (done,) = self.run(self.backend.retry([job_id]))
        now = self.tick()
        job = self.jobs.get(job_id)
        expected = job is not None and job.state in (
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.SCHEDULED,
        )
        assert done == expected
        if job is None or not expected:
            return
        if job.state in FINISHED:
            job.max_attempts = max(job.max_attempts, job.attempt + 1)
            job.cancel_requested = False
        job.state, job.run_at = JobState.QUEUED, now

    @precondition(
        lambda self: any(j.state is JobState.RUNNING and j.short_lease for j in self.jobs.values())
    )
    @rule()
    def leases_expire(self) -> None:
        time.sleep(SHORT * 2)
        put_back = self.run(self.backend.reclaim())
        self.tick()
        expected = {
            j.id for j in self.jobs.values() if j.state is JobState.RUNNING and j.short_lease
        }
        assert set(put_back) == expected
        for job_id in expected:
            self.jobs[job_id].state = JobState.QUEUED

    @precondition(lambda self: isinstance(self.backend, Batches))
    @rule()
    def open_batch(self) -> None:
        batch = NewBatch(new_job_id())
        self.run(self.keeper.open_batch(batch))
        self.tick()
        self.batches[batch.id] = ModelBatch()

    @precondition(lambda self: any(not b.closed for b in self.batches.values()))
    @rule()
    def close_batch(self) -> None:
        batch_id = next(b for b, batch in self.batches.items() if not batch.closed)
        record = self.run(self.keeper.close_batch(batch_id, ttl=None))
        self.tick()
        assert record is not None and record.closed
        self.batches[batch_id].closed = True

    @property
    def keeper(self) -> Batches:
        assert isinstance(self.backend, Batches)
        return self.backend

    def forget(self, job: ModelJob) -> None:
        """A record whose retention ended: no read finds it, and its key is free; its
        batch keeps counting it in its last state."""
        if job.batch is not None:
            self.batches[job.batch].gone[job.state] += 1
        del self.jobs[job.id]
        if job.key is not None and self.keys.get((job.queue, job.key)) == job.id:
            del self.keys[job.queue, job.key]

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def every_job_is_where_the_model_says(self) -> None:
        if not self.jobs:
            return
        ids = list(self.jobs)
        records = self.run(self.backend.get(ids))
        for job_id, record in zip(ids, records, strict=True):
            job = self.jobs[job_id]
            assert record is not None, f"job {job_id} vanished"
            assert (record.state, record.attempt, record.max_attempts) == (
                job.state,
                job.attempt,
                job.max_attempts,
            ), (record, job)
            if job.state is JobState.RUNNING:
                assert record.cancel_requested == job.cancel_requested

    @invariant()
    def stats_agree_with_the_jobs(self) -> None:
        stats: dict[str, dict[JobState, int]] = self.run(self.backend.stats(list(QUEUES)))
        for queue in QUEUES:
            expected = dict.fromkeys(JobState, 0)
            for job in self.jobs.values():
                if job.queue == queue:
                    expected[job.state] += 1
            assert stats[queue] == expected, (queue, stats[queue], expected)

    @invariant()
    def batches_agree_with_their_members(self) -> None:
        if not self.batches:
            return
        ids = list(self.batches)
        records = self.run(self.keeper.get_batches(ids))
        for batch_id, record in zip(ids, records, strict=True):
            batch = self.batches[batch_id]
            counts = Counter(batch.gone)
            counts.update(self.jobs[m].state for m in batch.members if m in self.jobs)
            unfinished = sum(counts[state] for state in (*WAITING, JobState.RUNNING))
            if batch.closed and not unfinished:
                batch.complete_fired = True  # the step that ended the batch fired it
            if batch.closed and counts[JobState.SUCCEEDED] == len(batch.members):
                batch.success_fired = True
            assert record is not None, f"batch {batch_id} vanished"
            assert record.total == len(batch.members)
            assert {s: n for s, n in record.counts.items() if n} == +counts, (record, counts)
            assert (record.success_fired, record.complete_fired) == (
                batch.success_fired,
                batch.complete_fired,
            )
            assert (record.ended_at is not None) == (batch.closed and not unfinished)


def settings_for(examples: int, steps: int) -> Any:
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
