"""Conformance tests of `FlowInspection` (where a backend has it): per queue, the running jobs
that hold a slot of a limit key and the queued jobs held for a limit or rate key."""

from __future__ import annotations

import pytest

from taskrunner.backend import Backend, FlowCounts, FlowInspection, Held, OutcomeKind
from taskrunner.testing.conformance.helpers import Suite, new_job
from taskrunner.testing.conformance.limits import claim_ids, end, limited, record_of
from taskrunner.testing.conformance.rates import rated


def counting(backend: Backend) -> FlowInspection:
    if not isinstance(backend, FlowInspection):
        pytest.skip("the backend cannot count held jobs (no FlowInspection)")
    return backend


class FlowCountTests(Suite):
    """The counts metrics read: limit slots held and jobs held back, per queue."""

    async def test_flow_counts_follow_claims_and_ends(self, backend: Backend) -> None:
        counts = counting(backend)
        first, second = limited("customer:1", queue="crm"), limited("customer:1", queue="crm")
        other = limited("customer:2", queue="crm")
        free = new_job(queue="crm")
        paced, late = rated("api", queue="crm"), rated("api", queue="crm")
        elsewhere = limited("customer:1", queue="mail")  # a key holds within its queue
        await backend.enqueue([first, second, other, free, paced, late, elsewhere])
        assert await counts.flow_counts(["crm", "mail"]) == {
            "crm": FlowCounts(0, 0),
            "mail": FlowCounts(0, 0),
        }

        taken = await claim_ids(backend, queues=("crm",))
        assert taken == {first.id, other.id, free.id, paced.id}
        assert (await record_of(backend, second.id)).held is Held.LIMIT
        assert (await record_of(backend, late.id)).held is Held.RATE
        assert await counts.flow_counts(["crm", "mail", "empty"]) == {
            "crm": FlowCounts(limit_running=2, held=2),  # first and other; second and late
            "mail": FlowCounts(0, 0),
            "empty": FlowCounts(0, 0),
        }

        await end(backend, await record_of(backend, first.id), OutcomeKind.SUCCEEDED)
        assert await claim_ids(backend, queues=("crm",)) == {second.id}
        assert await claim_ids(backend, queues=("mail",)) == {elsewhere.id}
        assert await counts.flow_counts(["crm", "mail"]) == {
            "crm": FlowCounts(limit_running=2, held=1),  # second and other; late
            "mail": FlowCounts(limit_running=1, held=0),
        }
