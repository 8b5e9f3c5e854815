"""A photo album: a user picks photos, each is resized and uploaded by its own job, and the
album is published once, when every upload has succeeded.

Run it from a clone of the repository:

    uv run uvicorn examples.album:app

then open http://127.0.0.1:8000, pick photos (or take 12 generated samples) and publish.
The form's handler saves the files and stores one batch: one `upload_photo` job per photo,
with `publish_album` as the batch's `on_success` callback. It redirects at once to the
album's page, which reloads itself and shows each photo's state and progress, then the
published album. GET /api/albums/{id} answers the same as JSON.

The remote photo service is a fake, in this file: a small FastAPI app that takes photos
and publishes albums, slowly (ALBUM_REMOTE_DELAY seconds per upload, default 0.5). It
refuses the third photo of each album twice with a 503 before it takes it, so that photo's
retries show. The jobs reach it in process; set ALBUM_REMOTE_URL to reach it (or a real
service) over HTTP instead, e.g. `uv run uvicorn examples.album:remote_api --port 8001`.

Jobs live in memory, run by a worker inside the web process. Set TASKRUNNER_URL (redis://...
or postgresql://...) to keep them in Redis or Postgres; worker processes (`taskrunner run
examples.album:runner`) can then run them too, given the same PHOTO_DIR and
ALBUM_REMOTE_URL.
"""

from __future__ import annotations

import asyncio
import html
import io
import os
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import httpx
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from PIL import Image, ImageDraw, ImageOps
from pydantic import BaseModel

from taskrunner import BatchInfo, JobInfo, JobNotFound, JobState, State, TaskRunner, current_job

runner = TaskRunner()  # TASKRUNNER_URL, else memory://
PHOTO_DIR = Path(os.environ.get("PHOTO_DIR", Path(tempfile.gettempdir()) / "taskrunner-album"))
REMOTE_URL = os.environ.get("ALBUM_REMOTE_URL")  # None: the fake below, in process
MAX_PHOTOS = 50
MAX_SIDE = 1024  # photos are shrunk to fit MAX_SIDE x MAX_SIDE before they are uploaded
PAGE = """<!doctype html>
<html><head><meta charset="utf-8">{head}<title>{title}</title></head>
<body><h1>{title}</h1>
{body}
</body></html>
"""


# -- the remote photo service: a fake ----------------------------------------------------------


@dataclass
class FakeRemote:
    """What the fake photo service holds, and what it was asked, in order (`log`)."""

    flaky_position: int = 3  # this photo of each album is refused `failures` times first
    failures: int = 2
    delay: float = float(os.environ.get("ALBUM_REMOTE_DELAY", "0.5"))  # per upload
    hold: asyncio.Event | None = None  # when set: uploads wait for it (tests)
    attempts: Counter[tuple[str, int]] = field(default_factory=Counter)
    photos: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)
    published: set[str] = field(default_factory=set)
    log: list[tuple[str, str, int]] = field(default_factory=list)  # (what, album, position)


remote = FakeRemote()
remote_api = FastAPI(title="Fake photo service")


@remote_api.put("/albums/{album}/photos/{position}")
async def receive_photo(album: str, position: int, request: Request) -> dict[str, Any]:
    data = await request.body()
    await asyncio.sleep(remote.delay)  # a slow network
    if remote.hold is not None:
        await remote.hold.wait()
    remote.attempts[album, position] += 1
    if position == remote.flaky_position and remote.attempts[album, position] <= remote.failures:
        remote.log.append(("refused", album, position))
        raise HTTPException(503, "busy, try again later")
    if album in remote.published:
        raise HTTPException(409, f"album {album} is published: it takes no more photos")
    with Image.open(io.BytesIO(data)) as image:
        size = image.size
    remote.photos.setdefault(album, {})[position] = size  # a second upload replaces the first
    remote.log.append(("stored", album, position))
    return {"url": f"https://photos.example/{album}/{position}.jpg", "size": size}


class Publication(BaseModel):
    photos: int  # how many photos the album must have


@remote_api.post("/albums/{album}/publish")
async def publish(album: str, publication: Publication) -> dict[str, Any]:
    remote.log.append(("publish", album, 0))
    stored = len(remote.photos.get(album, {}))
    if album not in remote.published and stored != publication.photos:
        raise HTTPException(409, f"album {album} has {stored} of {publication.photos} photos")
    remote.published.add(album)  # publishing again changes nothing, as a PUT would
    return {"url": f"https://photos.example/{album}"}


# -- the jobs ----------------------------------------------------------------------------------


class Refused(Exception):
    """The photo service answered 4xx: another attempt would not help."""


@runner.on_startup
async def open_remote(state: State) -> None:
    if REMOTE_URL:
        state.remote = httpx.AsyncClient(base_url=REMOTE_URL, timeout=60)
    else:
        transport = httpx.ASGITransport(app=remote_api)
        state.remote = httpx.AsyncClient(transport=transport, base_url="http://photos.test")


@runner.on_shutdown
async def close_remote(state: State) -> None:
    await state.remote.aclose()


async def call_remote(method: str, path: str, **request: Any) -> dict[str, Any]:
    """One call to the photo service: 5xx and network errors raise `httpx.HTTPError` (the
    tasks retry those), 4xx raises `Refused`."""
    http: httpx.AsyncClient = runner.state.remote
    response = await http.request(method, path, **request)
    if response.status_code >= 500:
        response.raise_for_status()
    if response.status_code >= 400:
        raise Refused(f"{response.status_code}: {response.text}")
    answer: dict[str, Any] = response.json()
    return answer


def shrink(path: Path) -> tuple[bytes, tuple[int, int]]:
    """The photo as a JPEG that fits MAX_SIDE x MAX_SIDE, and its original size."""
    with Image.open(path) as image:
        original = image.size
        photo = ImageOps.exif_transpose(image).convert("RGB")
    photo.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=85)
    return out.getvalue(), original


# A network error or a 5xx is retried, with backoff, for this photo alone; a file that is no
# image (PIL.UnidentifiedImageError) or a 4xx fails the job at once.
@runner.task(retries=4, retry_on=httpx.HTTPError)
async def upload_photo(album: str, position: int, path: str) -> dict[str, Any]:
    """Shrink one photo and upload it to the album, reporting how far it got."""
    job = current_job()
    job.report_progress(0, 2, "resizing")
    jpeg, original = await asyncio.to_thread(shrink, Path(path))  # Pillow, off the loop
    job.report_progress(1, 2, f"uploading {len(jpeg) // 1024} KB")
    headers = {"content-type": "image/jpeg"}
    stored = await call_remote(
        "PUT", f"/albums/{album}/photos/{position}", content=jpeg, headers=headers
    )
    job.report_progress(2, 2, "uploaded")
    return {"url": stored["url"], "original": original, "size": stored["size"]}


# The batch's on_success callback: enqueued once, when every upload has succeeded. (A job
# runs at least once: should a worker die during the call, another runs it again, so the
# service's publication must be safe to repeat, as this one is.)
@runner.task(retries=4, retry_on=httpx.HTTPError)
async def publish_album(album: str, photos: int) -> str:
    """Publish the album on the photo service; answers its URL."""
    published = await call_remote("POST", f"/albums/{album}/publish", json={"photos": photos})
    url: str = published["url"]
    return url


# -- the web app -------------------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with runner, runner.worker(concurrency=4):
        yield


app = FastAPI(title="Album", lifespan=lifespan)


@app.get("/", response_class=HTMLResponse)
async def home() -> str:
    return PAGE.format(
        head="",
        title="Publish an album",
        body=f"""<form method="post" action="/albums" enctype="multipart/form-data">
  <input type="file" name="photos" accept="image/*" multiple required>
  <button>Publish these photos</button>
</form>
<form method="post" action="/albums">
  <input type="hidden" name="samples" value="12">
  <button>Publish 12 sample photos</button>
</form>
<p>Up to {MAX_PHOTOS} photos; each is shrunk to fit {MAX_SIDE} pixels.</p>""",
    )


@app.post("/albums")
async def create_album(
    photos: Annotated[list[UploadFile] | None, File()] = None,
    samples: Annotated[int, Form(ge=0, le=MAX_PHOTOS)] = 0,
) -> RedirectResponse:
    album = secrets.token_hex(4)
    folder = PHOTO_DIR / album
    chosen = [p for p in photos or [] if p.filename]  # a form without a file sends an empty one
    if not 1 <= len(chosen) + samples <= MAX_PHOTOS:
        raise HTTPException(400, f"pick from 1 to {MAX_PHOTOS} photos")
    paths = [
        await asyncio.to_thread(keep, p.file, folder / str(n), p.filename or "")
        for n, p in enumerate(chosen, 1)
    ]
    paths += await asyncio.to_thread(make_samples, folder, samples)
    # --8<-- [start:batch]
    # one job per photo, which gets the file's path (a job's arguments stay small), and the
    # album's publication once every one of them has succeeded
    batch = await runner.batch(
        [upload_photo.prepare(album, n, str(p)) for n, p in enumerate(paths, 1)],
        on_success=publish_album.prepare(album, len(paths)),
    )
    # --8<-- [end:batch]
    return RedirectResponse(f"/albums/{batch.id}", status_code=303)


def keep(upload: BinaryIO, folder: Path, filename: str) -> Path:
    """Save an uploaded file where the jobs will read it (a folder per photo: two photos
    may have the same name)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (Path(filename).name.lstrip(".") or "photo")
    with path.open("wb") as out:
        shutil.copyfileobj(upload, out)
    return path


def make_samples(folder: Path, count: int) -> list[Path]:
    """`count` photos for the demo: 3000 x 2000 pixels, one colour each, numbered."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(1, count + 1):
        image = Image.new("RGB", (3000, 2000), ((n * 70) % 256, (n * 150) % 256, (n * 40) % 256))
        left = 250 * ((n - 1) % 11) + 100
        ImageDraw.Draw(image).rectangle((left, 500, left + 150, 1500), fill="white")
        paths.append(folder / f"sample-{n:02d}.jpg")
        image.save(paths[-1], "JPEG")
    return paths


async def album_status(batch_id: str) -> dict[str, Any]:
    """The album from its batch: each photo's job, and the callback that publishes it."""
    batch = await runner.find_batch(batch_id)
    try:
        info = await batch.info()
    except JobNotFound:
        raise HTTPException(404, "no such album (or its record has expired)") from None
    members = await batch.members(limit=MAX_PHOTOS)
    photos = [photo_status(job) for job in await runner.get_jobs(members)]
    return {
        "album": photos[0]["album"] if photos else None,
        "total": info.total,
        "uploaded": info.counts[JobState.SUCCEEDED],
        "ended": info.ended,
        "photos": photos,
        **await publication(info),
    }


def photo_status(job: JobInfo | None) -> dict[str, Any]:
    if job is None:  # its record expired (result_ttl)
        return {"album": None, "position": None, "name": "?", "state": "expired"}
    album, position, path = job.args or (None, None, "?")
    return {
        "album": album,
        "position": position,
        "name": Path(path).name,
        "state": job.state,
        "attempt": job.attempt,
        "progress": job.progress.message if job.progress else None,
        "error": f"{job.error.type}: {job.error.message}" if job.error else None,
        "result": job.result,
    }


async def publication(info: BatchInfo) -> dict[str, Any]:
    """Where the album's publication stands: `publish` is the callback job's state."""
    if info.on_success is None or not info.success_fired:
        failed = info.ended  # ended without every member's success: never published
        return {"publish": "not published" if failed else "waiting", "published": None}
    (job,) = await runner.get_jobs([info.on_success])
    if job is None:
        return {"publish": "expired", "published": None}
    published = job.result if job.state is JobState.SUCCEEDED else None
    return {"publish": job.state, "published": published}


@app.get("/api/albums/{batch_id}")
async def album_json(batch_id: str) -> dict[str, Any]:
    return await album_status(batch_id)


@app.get("/albums/{batch_id}", response_class=HTMLResponse)
async def album_page(batch_id: str) -> str:
    status = await album_status(batch_id)
    rows = "\n".join(
        f"<tr><td>{p['position']}</td><td>{html.escape(p['name'])}</td>"
        f"<td>{p['state']}</td><td>{html.escape(photo_detail(p))}</td></tr>"
        for p in status["photos"]
    )
    if status["published"]:
        url = html.escape(status["published"])
        summary = f'Published once every photo was uploaded: <a href="{url}">{url}</a>'
    else:
        summary = f"{status['uploaded']} of {status['total']} uploaded; album: {status['publish']}"
    settled = status["published"] or status["publish"] in ("not published", JobState.FAILED)
    refresh = "" if settled else '<meta http-equiv="refresh" content="1">'
    body = f"<p>{summary}</p>\n<table>\n{rows}\n</table>\n<p><a href='/'>Another album</a></p>"
    return PAGE.format(head=refresh, title=f"Album {html.escape(str(status['album']))}", body=body)


def photo_detail(photo: dict[str, Any]) -> str:
    state, attempt = photo["state"], photo.get("attempt") or 1
    error = (photo.get("error") or "").partition("\n")[0]  # its first line
    if state == JobState.SUCCEEDED:
        width, height = photo["result"]["size"]
        tries = f" (attempt {attempt})" if attempt > 1 else ""
        return f"{width} x {height} at {photo['result']['url']}{tries}"
    if state == JobState.FAILED:
        return f"failed after {attempt} attempt(s): {error}"
    if state in (JobState.QUEUED, JobState.SCHEDULED) and error:  # waiting for another try
        return f"attempt {attempt} failed ({error}); retrying"
    if state == JobState.RUNNING and attempt > 1:
        return f"{photo['progress'] or ''} (attempt {attempt})"
    return str(photo.get("progress") or "")
