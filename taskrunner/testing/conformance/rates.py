"""Conformance tests of rate limits (`NewJob.rate_key`): at most `rate_max` starts per
(queue, key) in any `rate_per` seconds on the backend's clock, retries counted, held jobs
that block nobody, and the wake-up when the window opens."""

from __future__ import annotations

from typing import Any

import anyio

from taskrunner.backend import Backend, Held, JobState, NewJob, OutcomeKind
from taskrunner.testing.conformance.helpers import WORKER, Suite, new_job
from taskrunner.testing.conformance.limits import claim_ids, claimed_when_freed, end, record_of

PER = 1.0  # a rate window the tests wait out
LONG = 3600.0  # a rate window no test waits out


def rated(key: str = "api", n: int = 1, per: float = LONG, **fields: Any) -> NewJob:
    """A job whose rate key is `key`, at most `n` starts per `per` seconds."""
    return new_job(rate_key=key, rate_max=n, rate_per=per, **fields)


class RateTests(Suite):
    """Rate limits, judged by the claim over a sliding window of starts."""

    async def test_a_rate_allows_n_starts_per_window(self, backend: Backend) -> None:
        jobs = [rated("api", 3, PER) for _ in range(7)]
        await backend.enqueue(jobs)
        assert await claim_ids(backend) == {j.id for j in jobs[:3]}
        assert await claim_ids(backend) == set()
        record = await record_of(backend, jobs[3].id)
        assert (record.state, record.attempt, record.held) == (JobState.QUEUED, 0, Held.RATE)
        await anyio.sleep(PER + 0.2)
        assert await claim_ids(backend) == {j.id for j in jobs[3:6]}

    async def test_a_finished_start_still_counts_against_the_rate(self, backend: Backend) -> None:
        first, second = rated(), rated()
        await backend.enqueue([first, second])
        (record,) = await backend.claim(["default"], 10, WORKER, 30)
        await end(backend, record, OutcomeKind.SUCCEEDED)
        assert await claim_ids(backend) == set()  # a rate counts starts, not running jobs

    async def test_every_attempt_counts_against_the_rate(self, backend: Backend) -> None:
        job, other = rated("api", 2), rated("api", 2)
        await backend.enqueue([job])
        (record,) = await backend.claim(["default"], 10, WORKER, 30)
        await end(backend, record, OutcomeKind.RETRY)  # due again at once
        (record,) = await backend.claim(["default"], 10, WORKER, 30)
        assert (record.id, record.attempt) == (job.id, 2)
        await backend.enqueue([other])
        assert await claim_ids(backend) == set()

    async def test_jobs_held_by_a_rate_do_not_block_other_keys(self, backend: Backend) -> None:
        hot = [rated("hot") for _ in range(40)]
        cold = [rated(f"cold:{n}") for n in range(4)]
        plain = new_job()
        await backend.enqueue(hot)
        await backend.enqueue([*cold, plain])
        assert await claim_ids(backend, 6) == {hot[0].id, plain.id} | {j.id for j in cold}
        assert await claim_ids(backend, 1) == set()

    async def test_rate_keys_are_per_queue(self, backend: Backend) -> None:
        here, there = rated(queue="here"), rated(queue="there")
        await backend.enqueue([here, there])
        assert await claim_ids(backend, 10, ("here", "there")) == {here.id, there.id}

    async def test_a_job_held_by_its_rate_takes_no_limit_slot(self, backend: Backend) -> None:
        opener = new_job(rate_key="api", rate_max=1, rate_per=LONG)
        both = new_job(rate_key="api", rate_max=1, rate_per=LONG, limit_key="k", limit_max=1)
        limited = new_job(limit_key="k", limit_max=1)
        await backend.enqueue([opener])
        assert await claim_ids(backend) == {opener.id}
        await backend.enqueue([both, limited])
        assert await claim_ids(backend) == {limited.id}
        assert (await record_of(backend, both.id)).held is Held.RATE

    async def test_an_idle_worker_wakes_when_the_rate_window_opens(self, backend: Backend) -> None:
        first, second = rated("api", 1, PER), rated("api", 1, PER)
        await backend.enqueue([first, second])
        assert await claim_ids(backend) == {first.id}

        async def window_opens() -> None:  # the worker's wait must end by itself
            await anyio.sleep(PER - 0.2)

        assert await claimed_when_freed(backend, window_opens) == {second.id}
