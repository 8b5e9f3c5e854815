"""Fan-out: one request makes one job per image; each is resized with Pillow and retried alone.

Run it from a clone of the repository:

    uv run uvicorn examples.thumbnails:app

then post a batch and follow it:

    curl -X POST localhost:8000/batches -H 'content-type: application/json' \\
         -d '{"urls": ["https://example.com/a.jpg", "https://example.com/b.png"], "size": 128}'
    curl localhost:8000/batches/BATCH_ID

The POST answers at once with the batch id. Each image is downloaded and shrunk to fit
`size` x `size` pixels by its own job, so a slow or failing image holds up no other: a
network error or a 5xx answer is retried with backoff, an unreadable image fails at once.
GET /batches/{id} says how many are done and which failed, and why. Thumbnails are written
to THUMBNAIL_DIR (default: a `taskrunner-thumbnails` folder in the system's temp folder).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from PIL import Image
from pydantic import BaseModel, Field, HttpUrl

from taskrunner import Backoff, JobNotFound, JobState, TaskRunner, current_job

runner = TaskRunner()  # TASKRUNNER_URL, else memory://
OUTPUT = Path(
    os.environ.get("THUMBNAIL_DIR", Path(tempfile.gettempdir()) / "taskrunner-thumbnails")
)


class ImageMissing(Exception):
    """The image URL answered 4xx: another attempt would not help."""


# A plain `def` task: workers run it in a thread, so Pillow's work does not block the loop.
# Only network trouble is retried; Pillow's UnidentifiedImageError fails the job at once.
@runner.task(retries=3, backoff=Backoff(base=0.5, max_delay=30), retry_on=httpx.HTTPError)
def make_thumbnail(url: str, size: int) -> dict[str, Any]:
    """Download one image, shrink it to fit `size` x `size`, save it as PNG."""
    response = httpx.get(url, timeout=20, follow_redirects=True)
    if response.status_code >= 500:
        response.raise_for_status()
    if response.status_code >= 400:
        raise ImageMissing(f"{url} answered {response.status_code} {response.reason_phrase}")
    with Image.open(io.BytesIO(response.content)) as image:
        original = image.size
        image.thumbnail((size, size))
        OUTPUT.mkdir(parents=True, exist_ok=True)
        # named after the job, so a second run of the same job overwrites its own file
        path = OUTPUT / f"{current_job().id}.png"
        image.save(path, "PNG")
        return {"url": url, "path": str(path), "original": original, "size": image.size}


# -- the web app -------------------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with runner, runner.worker(concurrency=8):
        yield


app = FastAPI(title="Thumbnails", lifespan=lifespan)


class BatchRequest(BaseModel):
    urls: list[HttpUrl] = Field(min_length=1, max_length=1000)
    size: int = Field(default=256, ge=16, le=2048)


@app.post("/batches", status_code=202)
async def create_batch(request: BatchRequest) -> dict[str, Any]:
    # one job per image, stored as a batch (1000 per round trip to the backend), which
    # keeps the jobs' ids and counts their states for any process that asks
    batch = await runner.batch(
        make_thumbnail.prepare(str(url), request.size) for url in request.urls
    )
    return {"batch": batch.id, "jobs": len(request.urls)}


@app.get("/batches/{batch_id}")
async def batch_status(batch_id: str) -> dict[str, Any]:
    batch = await runner.find_batch(batch_id)
    try:
        await batch.info()
    except JobNotFound:
        raise HTTPException(404, "no such batch (or its record has expired)") from None
    job_ids = await batch.members(limit=1000)
    infos = await runner.get_jobs(job_ids)  # one round trip for the whole batch
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    pending = 0
    for job_id, info in zip(job_ids, infos, strict=True):
        if info is None:  # the record expired (result_ttl): its outcome is no longer known
            failed.append({"job": job_id, "error": "expired"})
        elif info.state is JobState.SUCCEEDED:
            done.append(info.result)
        elif info.finished:
            error = info.error
            failed.append(
                {
                    "job": job_id,
                    "url": (info.args or [None])[0],
                    "attempts": info.attempt,
                    "error": f"{error.type}: {error.message}" if error else str(info.state),
                }
            )
        else:
            pending += 1
    return {
        "total": len(job_ids),
        "done": len(done),
        "pending": pending,
        "finished": pending == 0,
        "failed": failed,
        "thumbnails": done,
    }
