"""examples/thumbnails.py: one job per image, each retried on its own, the batch's progress."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from examples import thumbnails
from taskrunner import AttemptOutcome, JobState
from taskrunner.testing import memory_harness
from tests.examples.conftest import LocalServer, eventually_json, in_process, serve_app


def image_bytes(width: int, height: int, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(thumbnails, "OUTPUT", tmp_path)
    return tmp_path


async def test_a_batch_fans_out_and_reports_each_image(
    local_server: LocalServer, output_dir: Path
) -> None:
    wide = local_server.add("/wide.jpg", image_bytes(800, 400, "JPEG"), "image/jpeg")
    tall = local_server.add("/tall.png", image_bytes(300, 600, "PNG"), "image/png")
    flaky = local_server.add("/flaky.png", image_bytes(64, 64, "PNG"), "image/png", fail_first=2)
    corrupt = local_server.add("/corrupt.jpg", b"\xff\xd8 not really a jpeg", "image/jpeg")
    missing = local_server.url("/missing.png")

    # no lifespan, so no worker: the test drains the jobs, on a clock that skips the backoff
    async with memory_harness(thumbnails.runner) as harness, in_process(thumbnails.app) as client:
        created = await client.post(
            "/batches", json={"urls": [wide, tall, flaky, corrupt, missing], "size": 128}
        )
        assert created.status_code == 202
        batch = created.json()
        assert batch["jobs"] == 5
        report = await harness.drain(advance_clock=True)
        status = (await client.get(f"/batches/{batch['batch']}")).json()
        stored = await thumbnails.runner.get_batch(batch["batch"])  # a batch in the backend

    assert report.outcomes().count(AttemptOutcome.RETRY) == 2
    assert (stored.total, stored.counts[JobState.SUCCEEDED], stored.ended) == (5, 3, True)
    assert (status["total"], status["done"], status["pending"]) == (5, 3, 0)
    made = {t["url"]: t for t in status["thumbnails"]}
    assert made[wide]["original"] == [800, 400] and made[wide]["size"] == [128, 64]
    assert made[tall]["size"] == [64, 128]
    assert made[flaky]["size"] == [64, 64]  # never enlarged
    for thumbnail in made.values():
        path = Path(thumbnail["path"])
        assert path.parent == output_dir
        with Image.open(path) as saved:
            assert list(saved.size) == thumbnail["size"]
    # the flaky server's two 503s were retried on that image alone
    assert local_server.routes["/flaky.png"].requests == 3
    assert local_server.routes["/wide.jpg"].requests == 1

    failed = {f["url"]: f for f in status["failed"]}
    assert set(failed) == {corrupt, missing}
    assert failed[corrupt]["attempts"] == 1  # an unreadable image is not retried
    assert failed[corrupt]["error"].startswith("PIL.UnidentifiedImageError: ")
    assert failed[missing]["attempts"] == 1
    assert failed[missing]["error"] == (
        f"examples.thumbnails.ImageMissing: {missing} answered 404 Not Found"
    )


async def test_a_batch_in_progress_counts_what_is_pending(local_server: LocalServer) -> None:
    hold = threading.Event()
    slow = local_server.add("/slow.png", image_bytes(10, 10, "PNG"), "image/png", hold=hold)
    quick = local_server.add("/quick.png", image_bytes(10, 10, "PNG"), "image/png")
    async with serve_app(thumbnails.app, thumbnails.runner) as client:
        batch = (await client.post("/batches", json={"urls": [slow, quick]})).json()
        status = await eventually_json(client, f"/batches/{batch['batch']}", "done")
        assert (status["done"], status["pending"], status["finished"]) == (1, 1, False)
        hold.set()
        status = await eventually_json(client, f"/batches/{batch['batch']}", "finished")
        assert status["done"] == 2
        assert (await client.get("/batches/nope")).status_code == 404
        refused = await client.post("/batches", json={"urls": ["not a url"]})
        assert refused.status_code == 422
