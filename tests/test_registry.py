"""The task registry on the core's side: a worker publishes its tasks' specs when it starts,
and a stand-in built from a spec enqueues as the task itself would: its settings, its
argument checks, its limit and rate keys; a key computed by Python must be passed."""

from __future__ import annotations

import orjson
import pytest

from taskrunner import ConfigurationError, InvalidArguments, Limit, Rate, TaskRunner
from taskrunner.registry import TaskSpec, registered_task, stand_in


def make_runner() -> TaskRunner:
    runner = TaskRunner("memory://")

    @runner.task(name="crm.sync", queue="crm", retries=5, priority=-1,
                 limit=Limit(2, key="customer:{customer_id}"), rate=Rate(10, per=2.0))  # fmt: skip
    async def sync(customer_id: int, /, full: bool = False, *, reason: str) -> None: ...

    @runner.task(name="crm.computed", limit=Limit(1, key=lambda account: f"a:{account}"))
    async def computed(account: str) -> None: ...

    return runner


def test_a_spec_says_what_an_enqueue_elsewhere_needs() -> None:
    runner = make_runner()
    spec = TaskSpec.of(runner.tasks["crm.sync"])
    assert (spec.name, spec.queue, spec.max_attempts, spec.priority) == ("crm.sync", "crm", 6, -1)
    assert spec.parameters == (
        ("customer_id", "positional_only", False),
        ("full", "positional_or_keyword", True),
        ("reason", "keyword_only", False),
    )
    assert spec.limit == {"max": 2, "key": "customer:{customer_id}", "computed": False}
    assert spec.rate == {"n": 10, "per": 2.0, "key": None, "computed": False}
    assert TaskSpec.decode(spec.encode()) == spec
    computed = TaskSpec.of(runner.tasks["crm.computed"])
    assert computed.limit == {"max": 1, "key": None, "computed": True}
    with pytest.raises(ConfigurationError, match="format 2"):
        TaskSpec.decode(orjson.dumps({**orjson.loads(spec.encode()), "format": 2}))
    with pytest.raises(ConfigurationError, match="cannot be read"):
        TaskSpec.decode(b"[1]")


def test_a_stand_in_enqueues_as_the_task_would() -> None:
    runner, elsewhere = make_runner(), TaskRunner("memory://")
    real = runner.tasks["crm.sync"]
    twin = stand_in(elsewhere, TaskSpec.of(real))
    mine = real.prepare(7, reason="signup").new
    theirs = twin.prepare(7, reason="signup").new
    for field in ("task", "queue", "priority", "max_attempts", "limit_key", "limit_max",
                  "rate_key", "rate_max", "rate_per", "payload"):  # fmt: skip
        assert getattr(theirs, field) == getattr(mine, field), field
    assert theirs.limit_key == "customer:7"
    with pytest.raises(InvalidArguments, match="missing a required argument: 'reason'"):
        twin.prepare(7)
    with pytest.raises(InvalidArguments, match="positional"):
        twin.prepare(customer_id=7, reason="x")
    computed = stand_in(elsewhere, TaskSpec.of(runner.tasks["crm.computed"]))
    with pytest.raises(ConfigurationError, match="pass the key"):
        computed.prepare("acme")
    assert computed.options(limit_key="a:acme").prepare("acme").new.limit_key == "a:acme"


async def test_a_worker_publishes_its_tasks_when_it_starts() -> None:
    runner = make_runner()
    assert await registered_task(runner, runner.backend, "crm.sync") is None
    await runner.worker(burst=True).run()
    twin = await registered_task(runner, runner.backend, "crm.sync")
    assert twin is not None and twin.settings.queue == "crm"
    assert await registered_task(runner, runner.backend, "crm.nope") is None
