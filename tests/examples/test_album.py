"""examples/album.py end to end: photos posted through the form, one upload job each (the
flaky one retried alone), each photo's progress on the page, and the album published once,
after every upload. On memory, Redis and Postgres."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from examples import album
from taskrunner import JobState
from tests.examples.conftest import POSTGRES_URL, REDIS_URL, eventually_json, serve_app


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> album.FakeRemote:
    """A fresh fake photo service without its network delay, and a photo folder of the
    test's own."""
    fake = album.FakeRemote(delay=0)
    monkeypatch.setattr(album, "remote", fake)
    monkeypatch.setattr(album, "PHOTO_DIR", tmp_path)
    return fake


@pytest.fixture(params=["memory", "redis", "postgres"])
def backend_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        return f"{REDIS_URL}?prefix={request.getfixturevalue('redis_prefix')}"
    if request.param == "postgres":
        return f"{POSTGRES_URL}?schema={request.getfixturevalue('pg_schema')}"
    return "memory://"


def photo(width: int, height: int, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, fmt)
    return buffer.getvalue()


# (file name, original size): wide and tall, a PNG, and a small one that is never enlarged
SIZES = [(2400, 1600), (1200, 3000), (640, 480), (2048, 2048), (3000, 1000), (1500, 1501)]
PHOTOS = [(f"photo-{n:02d}.jpg", size) for n, size in enumerate(SIZES * 2, 1)]


def fitted(width: int, height: int) -> list[int]:
    """The size Pillow's thumbnail gives within MAX_SIDE x MAX_SIDE (never larger)."""
    scale = min(1.0, album.MAX_SIDE / max(width, height))
    return [round(width * scale), round(height * scale)]


def photos_of(status: dict[str, object]) -> list[dict[str, Any]]:
    photos: list[dict[str, Any]] = status["photos"]  # type: ignore[assignment]
    return photos


def uploading(photo: dict[str, Any]) -> bool:
    """The photo's job is running and said it is uploading."""
    progress = photo.get("progress") or ""
    return photo["state"] == JobState.RUNNING and progress.startswith("uploading ")


async def post_photos(client: Any, files: list[tuple[str, bytes]]) -> str:
    """Submit the form as a browser does; answers the album page's path."""
    parts = [("photos", (name, data, "image/jpeg")) for name, data in files]
    posted = await client.post("/albums", files=parts)
    assert posted.status_code == 303, posted.text
    page: str = posted.headers["location"]
    assert page.startswith("/albums/")
    return page


async def test_the_album_is_published_once_after_every_upload(
    remote: album.FakeRemote, backend_url: str
) -> None:
    files = [(name, photo(*size)) for name, size in PHOTOS]
    files[3] = ("photo-04.png", photo(2048, 2048, "PNG"))
    files[6] = ("photo-01.jpg", files[6][1])  # two photos of the same name
    async with serve_app(album.app, album.runner, backend_url) as client:
        assert 'enctype="multipart/form-data"' in (await client.get("/")).text
        page = await post_photos(client, files)
        status = await eventually_json(client, f"/api{page}", "published", timeout=60)
        shown = (await client.get(page)).text
        batch = await album.runner.get_batch(page.removeprefix("/albums/"))
        callbacks = await album.runner.list_jobs(task="examples.album.publish_album")

    album_id = status["album"]
    assert isinstance(album_id, str)
    assert status["published"] == f"https://photos.example/{album_id}"
    assert (status["total"], status["uploaded"], status["ended"]) == (12, 12, True)
    photos = photos_of(status)
    assert [p["position"] for p in photos] == list(range(1, 13))
    assert [p["name"] for p in photos] == [name for name, _ in files]
    for p, (_, (width, height)) in zip(photos, PHOTOS, strict=True):
        assert p["state"] == JobState.SUCCEEDED
        assert p["result"]["original"] == [width, height]
        assert p["result"]["size"] == fitted(width, height)
        assert p["result"]["url"] == f"https://photos.example/{album_id}/{p['position']}.jpg"
        # the service refused photo 3 twice: that job alone ran three times
        assert p["attempt"] == (3 if p["position"] == remote.flaky_position else 1)

    # the service got each photo once, resized, and published the album once, last
    assert {pos: tuple(p["result"]["size"]) for pos, p in enumerate(photos, 1)} == (
        remote.photos[album_id]
    )
    assert remote.attempts[album_id, 3] == 3
    assert sum(remote.attempts.values()) == 14
    events = [(what, position) for what, name, position in remote.log if name == album_id]
    assert events.count(("refused", 3)) == 2
    assert sorted(p for what, p in events if what == "stored") == list(range(1, 13))
    assert events[-1] == ("publish", 0) and events.count(("publish", 0)) == 1
    assert album_id in remote.published
    assert batch.success_fired and batch.counts[JobState.SUCCEEDED] == 12
    assert [job.id for job in callbacks.jobs] == [batch.on_success]
    assert f'<a href="https://photos.example/{album_id}">' in shown
    assert 'http-equiv="refresh"' not in shown


async def test_the_page_shows_each_photos_progress(remote: album.FakeRemote) -> None:
    remote.hold = asyncio.Event()  # uploads reach the service and wait there
    try:
        async with serve_app(album.app, album.runner) as client:
            posted = await client.post("/albums", data={"samples": "6"})
            page = posted.headers["location"]
            status = await eventually_json(client, f"/api{page}", "total")
            while not any(uploading(p) for p in photos_of(status)):  # held at the service
                await asyncio.sleep(0.05)
                status = (await client.get(f"/api{page}")).json()
            shown = (await client.get(page)).text
            assert 'http-equiv="refresh"' in shown  # the page reloads while photos upload
            assert status["publish"] == "waiting" and status["published"] is None
            running = [p for p in photos_of(status) if p["state"] == JobState.RUNNING]
            assert len(running) <= 4  # the worker's concurrency
            assert re.search(r"<td>running</td><td>uploading \d+ KB</td>", shown)  # progress
            remote.hold.set()
            status = await eventually_json(client, f"/api{page}", "published", timeout=60)
    finally:
        remote.hold.set()
    samples = photos_of(status)
    assert [p["name"] for p in samples] == [f"sample-{n:02d}.jpg" for n in range(1, 7)]
    assert all(p["result"]["size"] == [1024, 683] for p in samples)  # 3000 x 2000, shrunk


async def test_an_unreadable_photo_fails_and_the_album_is_not_published(
    remote: album.FakeRemote,
) -> None:
    files = [("a.jpg", photo(800, 600)), ("notes.jpg", b"not an image"), ("c.jpg", photo(9, 9))]
    async with serve_app(album.app, album.runner) as client:
        page = await post_photos(client, files)
        status = await eventually_json(client, f"/api{page}", "ended", timeout=60)
        shown = (await client.get(page)).text
        assert (await client.get("/albums/nope")).status_code == 404
        assert (await client.post("/albums", data={"samples": "0"})).status_code == 400
        assert (await client.post("/albums", data={"samples": "51"})).status_code == 422
    photos = photos_of(status)
    assert [p["state"] for p in photos] == ["succeeded", "failed", "succeeded"]
    assert photos[1]["attempt"] == 1  # not an image: no retry
    assert photos[1]["error"].startswith("PIL.UnidentifiedImageError: ")
    assert (status["publish"], status["published"]) == ("not published", None)
    assert "not published" in shown and 'http-equiv="refresh"' not in shown
    assert ("publish", status["album"], 0) not in remote.log
