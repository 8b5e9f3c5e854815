"""Conformance tests of dedup windows (`NewJob.key_ttl`): a windowed key is held for its
window after the enqueue, whatever becomes of the job or its record, and never longer."""

from __future__ import annotations

import anyio

from taskrunner.backend import Backend, JobState, Outcome, OutcomeKind
from taskrunner.testing.conformance.helpers import SHORT, Suite, claim_one, enqueue_racing, new_job

WINDOW = 0.6  # a dedup window that closes during a test


class WindowTests(Suite):
    """Dedup windows: `NewJob.key_ttl`."""

    async def test_window_answers_the_first_job_after_its_record_expired(
        self, backend: Backend
    ) -> None:
        first = new_job(key="feed:42", key_ttl=30.0)
        assert await backend.enqueue([first]) == [first.id]
        record = await claim_one(backend)
        outcome = Outcome(first.id, record.attempt, OutcomeKind.SUCCEEDED, b"1", ttl=0.05)
        assert await backend.finish([outcome]) == [True]
        await anyio.sleep(0.2)
        await backend.reclaim()
        assert await backend.get([first.id]) == [None]  # the record is gone ...
        again = new_job(key="feed:42", key_ttl=30.0)
        assert await backend.enqueue([again]) == [first.id]  # ... the window is not
        assert await backend.get([again.id]) == [None]
        counts = (await backend.stats(["default"])).get("default", {})
        assert not any(counts.values())

    async def test_window_holds_after_purge_and_cancel(self, backend: Backend) -> None:
        first = new_job(key="k", key_ttl=30.0)
        await backend.enqueue([first])
        await backend.cancel([first.id], ttl=None)
        await backend.purge([JobState.CANCELLED])
        assert await backend.enqueue([new_job(key="k", key_ttl=30.0)]) == [first.id]

    async def test_key_is_free_after_the_window_though_the_job_waits(
        self, backend: Backend
    ) -> None:
        first = new_job(key="feed:42", key_ttl=WINDOW)
        assert await backend.enqueue([first]) == [first.id]
        await anyio.sleep(WINDOW + 0.2)
        second = new_job(key="feed:42", key_ttl=WINDOW)
        assert await backend.enqueue([second]) == [second.id]
        records = await backend.get([first.id, second.id])
        assert [r.state if r else None for r in records] == [JobState.QUEUED] * 2
        # the second job opened a window of its own
        assert await backend.enqueue([new_job(key="feed:42", key_ttl=WINDOW)]) == [second.id]

    async def test_window_is_per_queue_and_per_key(self, backend: Backend) -> None:
        jobs = [
            new_job(key="a", key_ttl=30.0),
            new_job(key="a", key_ttl=30.0, queue="other"),
            new_job(key="b", key_ttl=30.0),
            new_job(key="a", key_ttl=30.0),  # the first job of the batch holds it
        ]
        ids = [job.id for job in jobs]
        assert await backend.enqueue(jobs) == [ids[0], ids[1], ids[2], ids[0]]

    async def test_repeating_a_windowed_enqueue_answers_its_own_id(self, backend: Backend) -> None:
        job = new_job(key="a", key_ttl=30.0)
        assert await backend.enqueue([job]) == [job.id]
        assert await backend.enqueue([job]) == [job.id]
        assert (await backend.stats(["default"]))["default"][JobState.QUEUED] == 1

    async def test_racing_windowed_enqueues_store_one_job(self, backend: Backend) -> None:
        rivals = [new_job(key="race", key_ttl=30.0) for _ in range(8)]
        winners = await enqueue_racing(backend, rivals)
        assert len(winners) == 1 and winners <= {job.id for job in rivals}
        assert (await backend.stats(["default"]))["default"][JobState.QUEUED] == 1

    async def test_keys_without_a_window_are_unchanged(self, backend: Backend) -> None:
        plain = new_job(key="k")
        assert await backend.enqueue([plain]) == [plain.id]
        assert await backend.enqueue([new_job(key="k")]) == [plain.id]
        (record,) = await backend.get([plain.id])
        assert record is not None and record.key == "k"
        # a window and a key held by a record are apart
        windowed = new_job(key="k", key_ttl=SHORT)
        assert await backend.enqueue([windowed]) == [windowed.id]
        (record,) = await backend.get([windowed.id])
        assert record is not None and record.key is None
