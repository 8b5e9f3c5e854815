"""What the tests of the Redis function taskrunner_enqueue share: an app whose worker
publishes its tasks, and calling the function."""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from taskrunner import Limit, Rate, TaskRunner
from taskrunner.backend import JobRecord
from taskrunner.job_format import prepared_job
from taskrunner.registry import registered_task
from taskrunner_redis import RedisBackend
from tests.redis.conftest import REDIS_URL

SERVED = ["crm", "mail", "other"]
TINY_PAYLOAD = 200  # the max_payload of the runner of task "tiny.note"


def make_runner(url: str) -> TaskRunner:
    runner = TaskRunner(url)

    @runner.task(name="crm.sync", queue="crm", retries=5, priority=-1,
                 limit=Limit(2, key="customer:{customer_id}"), rate=Rate(10, per=2.0))  # fmt: skip
    async def sync(customer_id: int, /, full: bool = False, *, reason: str) -> None: ...

    @runner.task(name="crm.computed", queue="crm", limit=Limit(1, key=lambda account: account))
    async def computed(account: str) -> None: ...

    @runner.task(name="mail.send", queue="mail")
    async def send(to: str, *rest: Any, **extra: Any) -> None: ...

    @runner.task(name="math.add", queue="mail")
    def add(a: int, b: int) -> int:
        return a + b

    return runner


def make_tiny_runner(url: str) -> TaskRunner:
    runner = TaskRunner(url, max_payload=TINY_PAYLOAD)

    @runner.task(name="tiny.note", queue="mail")
    async def note(text: str) -> None: ...

    return runner


async def publish(url: str) -> None:
    """Publish the apps' tasks as their workers do when they start."""
    for runner, queues in ((make_runner(url), SERVED), (make_tiny_runner(url), ["mail"])):
        await runner.worker(queues=queues, burst=True).run()
        await runner.close()


async def fcall(key: str, document: str | bytes, *more_keys: str) -> str:
    """FCALL taskrunner_enqueue: the id answered (ResponseError: the error reply)."""
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = (key, *more_keys)
        answer = await client.fcall("taskrunner_enqueue", len(keys), *keys, document)
    finally:
        await client.aclose()
    assert isinstance(answer, bytes)
    return answer.decode()


async def refusal(key: str, document: str | bytes, *more_keys: str) -> str:
    """The error reply of a call the function refuses."""
    try:
        answer = await fcall(key, document, *more_keys)
    except ResponseError as exc:
        return str(exc)
    raise AssertionError(f"the function took {document!r}: {answer}")


async def python_enqueue(url: str, document: str | bytes) -> JobRecord:
    """The record of the job a Python enqueue stores for a document (the dashboard's way:
    a stand-in of the task from the registry, with the runner of that task's limits)."""
    parsed = orjson.loads(document)
    name = parsed["task"]
    runner = (make_tiny_runner if name == "tiny.note" else make_runner)(url)
    try:
        await runner.connect()
        task = await registered_task(runner, runner.backend, name)
        (job,) = await runner.enqueue_many([prepared_job(parsed, lambda _: task)])
        (record,) = await runner.backend.get([job.id])
    finally:
        await runner.close()
    assert record is not None
    return record


async def python_refuses(url: str, document: str | bytes) -> bool:
    """Whether a Python enqueue of the document is refused."""
    try:
        await python_enqueue(url, document)
    except Exception:
        return True
    return False


async def record_of(url: str, job_id: str) -> JobRecord:
    backend = RedisBackend(url)
    await backend.connect()
    try:
        (record,) = await backend.get([job_id])
    finally:
        await backend.close()
    assert record is not None
    return record
