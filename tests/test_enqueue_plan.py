"""The enqueue path's shortcuts: a task's `JobPlan` (its settings and options worked out
once), the payload encoded without copying the call's arguments, and the checks they must
keep (every error before anything is stored, the same messages as before)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from taskrunner import (
    InvalidArguments,
    Limit,
    PayloadTooLarge,
    Rate,
    SerializationError,
    TaskRunner,
    policy,
)
from taskrunner._serialization import decode_call, encode_payload
from taskrunner.backend import NewJob
from taskrunner.task import EnqueueOptions, Task, TaskSettings, make_options, new_job
from tests.helpers import runner_on


def by_keyword(settings: TaskSettings, options: EnqueueOptions, payload: bytes) -> NewJob:
    """The job as the enqueue path built it before plans: field by field, by keyword."""
    return NewJob(
        id="fixed",
        task=settings.name,
        queue=options.queue or settings.queue,
        payload=payload,
        priority=settings.priority if options.priority is None else options.priority,
        max_attempts=policy.max_attempts(
            settings.retries if options.retries is None else options.retries
        ),
        key=options.key,
        delay=options.delay,
        at=options.at,
        key_ttl=options.key_ttl,
        after=options.after,
        after_run_anyway=options.run_anyway,
    )


def test_a_plan_builds_the_job_field_by_field_builds() -> None:
    """The plan passes `NewJob`'s fields by position: a field added or moved in `NewJob`
    without the plan following fails here."""
    settings = TaskSettings(name="t.plan", queue="q", retries=5, priority=3)
    every_option = make_options(
        EnqueueOptions(),
        delay=None,
        at=None,
        key="k:1",
        priority=-2,
        queue="other",
        retries=1,
        key_ttl=30.0,
        after=["018f0000-0000-7000-8000-000000000001"],
        run_anyway=True,
        timeout=5.0,
    )
    for options in (
        EnqueueOptions(),
        every_option,
        EnqueueOptions(delay=7.5),
        EnqueueOptions(at=1e9),
    ):
        made = new_job(settings, options, b"{}")
        assert dataclasses.replace(made, id="fixed") == by_keyword(settings, options, b"{}")
        assert made.batch_id is None and made.after_ttl is None


async def test_a_job_carries_its_flow_fields() -> None:
    runner = runner_on()

    @runner.task(limit=Limit(2, key="c:{customer}"), rate=Rate(5, per=2.0, key="api"))
    async def charge(customer: int) -> None: ...

    new = charge.prepare(7).new
    assert (new.limit_key, new.limit_max) == ("c:7", 2)
    assert (new.rate_key, new.rate_max, new.rate_per) == ("api", 5, 2.0)
    other = charge.options(limit_key="vip", rate_key="slow").prepare(7).new
    assert (other.limit_key, other.rate_key) == ("vip", "slow")


def test_the_payload_is_the_encoding_of_the_call() -> None:
    runner = runner_on()

    @runner.task
    async def record(*values: Any, **named: Any) -> None: ...

    for args, kwargs in (((), {}), ((1, "a", None), {}), ((), {"x": [1.5, {"y": True}]})):
        payload = record.prepare(*args, **kwargs).new.payload
        assert payload == encode_payload(list(args), kwargs)
        assert decode_call(payload) == (list(args), kwargs, {})
    timed = record.options(timeout=5, expires=60).prepare(1, z=2).new.payload
    assert decode_call(timed) == ([1], {"z": 2}, {"timeout": 5.0, "expires_in": 60.0})
    assert timed == encode_payload([1], {"z": 2}, meta={"timeout": 5.0, "expires_in": 60.0})


def test_a_payload_missing_a_part_decodes_to_a_fresh_empty_one() -> None:
    args, kwargs, meta = decode_call(b"{}")
    second = decode_call(b"{}")
    args.append(1)
    kwargs["x"] = 1
    meta["timeout"] = 1.0
    assert (args, kwargs, meta) == ([1], {"x": 1}, {"timeout": 1.0})
    assert second == ([], {}, {})  # nothing shared between two decodes
    assert decode_call(b"{}") == ([], {}, {})
    for wrong in (b'{"args": null}', b'{"kwargs": []}', b'{"meta": null}', b"[]"):
        with pytest.raises(SerializationError):
            decode_call(wrong)


async def test_options_make_a_plan_of_their_own_and_leave_the_task_alone() -> None:
    runner = runner_on()

    @runner.task(name="t.mail", queue="mail", retries=2)
    async def mail(to: str) -> None: ...

    special = mail.options(key="once", queue="urgent", retries=0, timeout=3, delay=60)
    keyed = await special.enqueue("a@example.com")
    plain = await mail.enqueue("b@example.com")
    first, second = await runner.get_jobs([keyed.id, plain.id])
    assert first is not None and second is not None
    assert (first.key, first.queue, first.max_attempts) == ("once", "urgent", 1)
    assert (second.key, second.queue, second.max_attempts) == (None, "mail", 3)
    assert decode_call((await runner.backend.get([plain.id]))[0].payload)[2] == {}  # type: ignore[union-attr]
    assert decode_call((await runner.backend.get([keyed.id]))[0].payload)[2] == {"timeout": 3.0}  # type: ignore[union-attr]


def ways_to_enqueue(task: Task[..., Any]) -> list[Any]:
    """Each way a call becomes a job, as a coroutine function of the call's arguments."""
    runner: Any = task.runner

    async def prepared(*args: Any, **kwargs: Any) -> Any:
        (job,) = await runner.enqueue_many([task.prepare(*args, **kwargs)])
        return job

    async def with_options(*args: Any, **kwargs: Any) -> Any:
        return await task.options(priority=1, timeout=2).enqueue(*args, **kwargs)

    return [task.enqueue, prepared, with_options]


@pytest.mark.parametrize("way", range(3))
async def test_every_way_refuses_what_it_must_before_storing_anything(way: int) -> None:
    runner: TaskRunner = runner_on(max_payload=200)

    @runner.task(name="t.store")
    async def store(value: Any, *, label: str = "") -> None: ...

    enqueue = ways_to_enqueue(store)[way]
    for args, kwargs, error, message in (
        ((), {}, InvalidArguments, "missing a required argument: 'value'"),
        ((1, 2), {}, InvalidArguments, "too many positional arguments"),
        ((1,), {"lable": "x"}, InvalidArguments, "unexpected keyword argument 'lable'"),
        (({1, 2},), {}, SerializationError, "cannot be sent as JSON"),
        ((b"raw",), {}, SerializationError, "cannot be sent as JSON"),
        ((2**70,), {}, SerializationError, "cannot be sent as JSON"),
        ((math.nan,), {}, SerializationError, r"args\[0\] is nan"),
        ((1,), {"label": math.inf}, SerializationError, r"kwargs\['label'\] is inf"),
        (("x" * 300,), {}, PayloadTooLarge, "over the limit of 200"),
    ):
        with pytest.raises(error, match=message):
            await enqueue(*args, **kwargs)
    assert await runner.stats() == {}  # nothing was stored
    job = await enqueue(None, label="ok")
    assert (await job.info()).kwargs == {"label": "ok"}


async def test_a_call_that_fitted_once_is_still_checked_by_its_values() -> None:
    """The argument check remembers call shapes; the JSON checks see every call's values."""
    runner = runner_on()

    @runner.task
    async def record(value: Any) -> None: ...

    await record.enqueue(1.0)
    with pytest.raises(SerializationError, match=r"args\[0\] is nan"):
        await record.enqueue(math.nan)
    with pytest.raises(SerializationError, match="cannot be sent as JSON"):
        await record.enqueue(object())
