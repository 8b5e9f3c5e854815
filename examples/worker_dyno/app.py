"""A worker dyno: a web process that enqueues, worker processes that run jobs, one Redis.

The Procfile beside this file declares both process types, as Heroku (or any Procfile
runner) starts them:

    web: uvicorn app:web --host 0.0.0.0 --port $PORT
    worker: taskrunner run app:runner --concurrency 20 --grace 25

Run it from a clone of the repository, with Redis listening on 127.0.0.1:6379 (or REDIS_URL
set), one process per terminal:

    cd examples/worker_dyno
    uv run taskrunner run app:runner --concurrency 20 --grace 25
    uv run uvicorn app:web --host 0.0.0.0 --port 8000

then count a few page views and read the report:

    curl -X POST 'localhost:8000/views?page=/pricing'
    curl localhost:8000/report

Each view is a job; a worker stores it. A recurring job (every REPORT_EVERY seconds, 60 by
default) turns the stored views into a report that the web process serves. Start more
workers to take more jobs: they share the queue, and the report still runs once per tick.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException, Query

from taskrunner import JobNotFound, State, TaskRunner, current_job, every

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
APP_KEYS = os.environ.get("APP_KEY_PREFIX", "pageviews")  # this app's own Redis keys
REPORT_EVERY = int(os.environ.get("REPORT_EVERY", "60"))

# The jobs live in the same Redis as the app's data, under taskrunner's own key prefix.
runner = TaskRunner(os.environ.get("TASKRUNNER_URL", REDIS_URL))


def key(*parts: str) -> str:
    return ":".join((APP_KEYS, *parts))


@runner.on_startup
async def connect_redis(state: State) -> None:
    state.redis = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)


@runner.on_shutdown
async def close_redis(state: State) -> None:
    await state.redis.aclose()


@runner.task(retries=5)
async def record_view(page: str, viewed_at: float) -> None:
    """Store one page view. Safe to run twice: the job's id is the set member, so a rerun
    of the same job (after a crash, say) stores nothing new."""
    redis: aioredis.Redis = runner.state.redis
    await redis.sadd(key("pages"), page)
    await redis.zadd(key("views", page), {current_job().id: viewed_at})


@runner.task(schedule=every(seconds=REPORT_EVERY))
async def publish_report() -> dict[str, Any]:
    """Count the views of every page and publish the report for the web process."""
    redis: aioredis.Redis = runner.state.redis
    pages = sorted(str(page) for page in await redis.smembers(key("pages")))
    views = {page: await redis.zcard(key("views", page)) for page in pages}
    report = {"generated_at": datetime.now(UTC).isoformat(), "views": views}
    await redis.set(key("report"), json.dumps(report))
    return report


# -- the web process ---------------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # no worker here: this process only enqueues and reads; `taskrunner run` runs the jobs
    async with runner:
        app.state.redis = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            yield
        finally:
            await app.state.redis.aclose()


web = FastAPI(title="Page views", lifespan=lifespan)


@web.post("/views", status_code=202)
async def count_view(page: str = Query(min_length=1, max_length=200)) -> dict[str, str]:
    job = await record_view.enqueue(page, time.time())
    return {"job": job.id}


@web.get("/report")
async def read_report() -> dict[str, Any]:
    stored = await web.state.redis.get(key("report"))
    if stored is None:
        raise HTTPException(404, "no report yet: the first one comes at the next tick")
    report: dict[str, Any] = json.loads(stored)
    return report


@web.get("/jobs/{job_id}")
async def job_status(job_id: str) -> dict[str, Any]:
    try:
        info = await runner.get_job(job_id)
    except JobNotFound:
        raise HTTPException(404, "no such job") from None
    return {"state": info.state, "attempt": info.attempt, "task": info.task}


@web.get("/queue")
async def queue_depth() -> dict[str, dict[str, int]]:
    """How many jobs each queue holds in each state: the number to watch when scaling."""
    return {
        queue: {state: count for state, count in counts.items() if count}
        for queue, counts in (await runner.stats()).items()
    }
