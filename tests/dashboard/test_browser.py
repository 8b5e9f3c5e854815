"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright.

The server runs in the test's own event loop (uvicorn on a free 127.0.0.1 port), so the test
checks the outcome of a click through the runner itself. Without /usr/bin/chromium the test
skips, unless CI is set: then it fails (`.ci/run` installs the browser).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn

from taskrunner import JobState
from taskrunner.dashboard import dashboard
from tests.dashboard.conftest import TOKEN, XSS_MESSAGE, Seeded, make_runner, seed
from tests.dashboard.test_live import slow_task
from tests.helpers import free_port

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# a folder to keep screenshots in (dashboard-NAME.png): the docs' are made with
# TASKRUNNER_SCREENSHOTS=docs/images uv run pytest -n 0 tests/dashboard/test_browser.py
SCREENSHOTS = os.environ.get("TASKRUNNER_SCREENSHOTS")


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Seeded]]:
    """A seeded runner's dashboard (password-protected) on a free port of 127.0.0.1."""
    need_chromium()
    runner = make_runner(None)
    seeded = await seed(runner)
    port = free_port()
    config = uvicorn.Config(
        dashboard(runner, password=TOKEN), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                assert not serving.done(), "the dashboard server stopped"
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}", seeded
    finally:
        server.should_exit = True
        await serving
        await runner.close()


async def test_log_in_see_the_failure_and_retry_it(served: tuple[str, Seeded]) -> None:
    from playwright.async_api import expect

    base, seeded = served
    dialogs: list[str] = []
    async with browser_page() as page:
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        await page.goto(base + "/")
        await expect(page).to_have_url(re.compile(r"/login$"))
        await page.get_by_label("Password or token").fill("not-the-password")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_contain_text("Wrong password")
        await screenshot(page, "login")
        await page.get_by_label("Password or token").fill(TOKEN)
        await page.get_by_role("button", name="Log in").click()

        # the overview: counts, and the chart drawn by the polling script
        await expect(page.get_by_role("heading", name="Queues")).to_be_visible()
        await expect(page.locator("#updated")).to_contain_text("updated")
        await expect(page.locator("#chart rect").first).to_be_attached()
        await screenshot(page, "overview")

        await page.get_by_role("link", name="Failed", exact=True).click()
        await expect(page.get_by_role("heading", name="Failed jobs")).to_be_visible()
        row = page.locator(f'tr[data-job="{seeded.failed}"]')
        await expect(row).to_contain_text("ValueError")
        await expect(row).to_contain_text(XSS_MESSAGE)  # shown as text, not run
        await page.locator("details.traceback summary").first.click()
        await expect(page.locator("details.traceback pre").first).to_contain_text(
            "Traceback (most recent call last)"
        )
        await screenshot(page, "failed")

        await row.get_by_role("button", name="Retry").click()
        await expect(page.get_by_role("status")).to_contain_text("queued again")
        assert (await seeded.runner.get_job(seeded.failed)).state is JobState.QUEUED

        await page.goto(f"{base}/jobs/{seeded.failed}")
        await expect(page.locator("h1 .state")).to_have_text("queued")
        await screenshot(page, "job")

        await page.goto(f"{base}/jobs/{seeded.succeeded}")
        await page.get_by_role("button", name="Delete").click()
        await expect(page.get_by_role("status")).to_have_text("The job is deleted.")
        await expect(page.locator(f'tr[data-job="{seeded.succeeded}"]')).to_have_count(0)

        await page.get_by_role("link", name="Schedules").click()
        tick = page.locator("tr", has_text="dash.tick")
        await expect(tick).to_contain_text("every 5 minutes")
        await expect(tick.locator("time")).to_have_count(1)
        assert dialogs == [], "a script from job data ran"


async def screenshot(page: object, name: str) -> None:
    if SCREENSHOTS:
        from playwright.async_api import Page

        assert isinstance(page, Page)
        path = Path(SCREENSHOTS) / f"dashboard-{name}.png"
        await page.screenshot(path=str(path), full_page=True)


@asynccontextmanager
async def browser_page(
    width: int = 1280, height: int = 900, scheme: str = "light"
) -> AsyncIterator[Page]:
    """A Chromium page of that size and colour scheme; no script error may happen on it."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page(
                viewport={"width": width, "height": height},
                color_scheme="dark" if scheme == "dark" else "light",
            )
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
            assert errors == []
        finally:
            await browser.close()


@asynccontextmanager
async def logged_in(
    base: str, width: int = 1280, height: int = 900, scheme: str = "light"
) -> AsyncIterator[Page]:
    """A `browser_page` logged in to the dashboard at `base`."""
    from playwright.async_api import expect

    async with browser_page(width, height, scheme) as page:
        await page.goto(base + "/login")
        await page.get_by_label("Password or token").fill(TOKEN)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Queues")).to_be_visible()
        yield page


async def test_tick_jobs_and_act_on_them(served: tuple[str, Seeded]) -> None:
    from playwright.async_api import expect

    base, seeded = served
    async with logged_in(base) as page:
        await page.get_by_role("link", name="Jobs", exact=True).click()
        retry = page.get_by_role("button", name="Retry selected")
        await expect(retry).to_be_disabled()  # nothing ticked yet
        await page.get_by_label(f"select {seeded.failed}").check()
        await page.get_by_label(f"select {seeded.succeeded}").check()
        await expect(page.locator("#bulk .picked")).to_have_text("2 selected:")
        await screenshot(page, "jobs")
        await retry.click()
        await expect(page.get_by_role("status")).to_contain_text(
            "1 of the 2 selected jobs queued again"
        )
        assert (await seeded.runner.get_job(seeded.failed)).state is JobState.QUEUED

        await page.get_by_label("select all").check()
        await expect(page.get_by_label(f"select {seeded.delayed}")).to_be_checked()
        await page.get_by_role("button", name="Cancel selected").click()
        await expect(page.get_by_role("status")).to_contain_text("2 of the 3 selected jobs")
        assert (await seeded.runner.get_job(seeded.delayed)).state is JobState.CANCELLED

        await page.get_by_label(f"select {seeded.delayed}").check()
        await page.get_by_role("button", name="Delete selected").click()
        await expect(page.get_by_role("status")).to_contain_text("1 of the 1 selected jobs deleted")
        await expect(page.locator(f'tr[data-job="{seeded.delayed}"]')).to_have_count(0)


async def test_pause_and_resume_a_queue_and_retry_its_failures(
    served: tuple[str, Seeded],
) -> None:
    from playwright.async_api import expect

    base, seeded = served
    async with logged_in(base) as page:
        row = page.locator("#queues tbody tr", has_text="default")
        await expect(page.locator("#updated")).to_contain_text("updated")  # drawn by the script
        await row.get_by_role("button", name="Pause").click()
        await expect(page.get_by_role("status")).to_contain_text("The queue is paused")
        await expect(row.locator(".state-paused")).to_have_text("paused")
        assert await seeded.runner.paused() == ["default"]
        await expect(page.locator("#updated")).to_contain_text("updated")
        await row.get_by_role("button", name="Resume").click()
        await expect(page.get_by_role("status")).to_contain_text("The queue is resumed")
        assert await seeded.runner.paused() == []
        await row.get_by_role("button", name="Retry failed").click()
        await expect(page.get_by_role("status")).to_contain_text("1 failed jobs of the queue")
        assert (await seeded.runner.get_job(seeded.failed)).state is JobState.QUEUED


async def test_search_with_combined_filters(served: tuple[str, Seeded]) -> None:
    from playwright.async_api import expect

    base, seeded = served
    async with logged_in(base) as page:
        await page.get_by_label("job id").fill(seeded.delayed[:13])  # the header's box
        await page.get_by_role("button", name="Find").click()
        await expect(page.locator(f'tr[data-job="{seeded.delayed}"]')).to_be_visible()
        await page.get_by_label("id starts with").fill("")
        await page.get_by_label("task").fill("dash.boom")
        await page.get_by_label("arguments contain").fill("ONERROR")
        await page.get_by_role("button", name="Filter").click()
        rows = page.locator("tr[data-job]")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-job", seeded.failed)
        await page.get_by_label("state").select_option("succeeded")
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator("td.empty")).to_have_text("No jobs match.")
        await screenshot(page, "search")


async def test_the_job_page_follows_a_running_job(served: tuple[str, Seeded]) -> None:
    from playwright.async_api import expect

    base, seeded = served
    runner = seeded.runner
    release = asyncio.Event()
    slow_task(runner, release)
    async with logged_in(base) as page, runner.worker(concurrency=1, queues=["slow"]):
        job = await runner.tasks["dash.slow"].enqueue(10)
        await page.goto(f"{base}/jobs/{job.id}")
        # queued or already running: the page follows it to its progress, then its end
        await expect(page.locator("#progress")).to_have_attribute("value", "3")
        await expect(page.locator("#progress-text")).to_have_text("3 of 10 rows copied")
        await expect(page.locator("#live")).to_contain_text("live")
        await expect(page.locator(".timeline .bar-running")).to_have_count(1)
        await screenshot(page, "job-live")
        release.set()
        await expect(page.locator("#job-state .state")).to_have_text("succeeded")
        await expect(page.locator("#live")).to_have_count(0)
        await expect(page.locator(".timeline .bar-succeeded")).to_have_count(1)


async def test_the_batch_page_follows_its_members(served: tuple[str, Seeded]) -> None:
    from playwright.async_api import expect

    base, seeded = served
    runner = seeded.runner
    ok = runner.tasks["dash.ok"]
    batch = await runner.batch([ok.prepare(n) for n in range(4)], on_success=ok.prepare(9))
    async with logged_in(base) as page:
        await page.get_by_role("link", name="Batches").click()
        await screenshot(page, "batches")
        await page.get_by_role("link", name=batch.id).click()
        await expect(page.locator("#batch-settled")).to_have_text("0 of 4 members ended")
        await screenshot(page, "batch")
        await runner.worker(burst=True, queues=["default"]).run()
        await expect(page.locator("#batch-settled")).to_have_text("4 of 4 members ended")
        await expect(page.locator("#live-batch")).to_have_count(0)  # reloaded once it ended
        await expect(page.get_by_text("(enqueued)")).to_be_visible()


async def test_queue_charts_and_run_now(served: tuple[str, Seeded]) -> None:
    from playwright.async_api import expect

    base, seeded = served
    async with logged_in(base) as page:
        await page.locator("#queues").get_by_role("link", name="default").click()
        await expect(page.get_by_role("heading", name="Queue default")).to_be_visible()
        for chart in ("throughput", "failures", "latency", "runtime"):
            await expect(page.locator(f"#chart-{chart} rect").first).to_be_attached()
        tooltip = page.locator("#chart-throughput g title").last
        await expect(tooltip).to_contain_text(" UTC: ")  # minutes in the labelled zone
        await screenshot(page, "queue")

        await page.get_by_role("link", name="Schedules").click()
        row = page.locator("tr", has_text="dash.tick")
        await expect(row).to_contain_text("never ran")
        await screenshot(page, "schedules")
        await row.get_by_role("button", name="Run now").click()
        await expect(page.get_by_role("status")).to_contain_text("The task is enqueued now")
        await expect(page.locator("#job-state .state")).to_have_text("queued")
        jobs = (await seeded.runner.list_jobs(task="dash.tick")).jobs
        assert [job.state.value for job in jobs] == ["queued"]


def luminance(css_color: str) -> float:
    """0 (black) to 1 (white), from a computed `rgb(r, g, b)`."""
    red, green, blue = (int(part) for part in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


async def test_dark_mode_and_a_phone_screen(served: tuple[str, Seeded]) -> None:
    from playwright.async_api import expect

    base, seeded = served
    batch = await seeded.runner.batch([seeded.runner.tasks["dash.ok"].prepare(1)])
    paths = ["/", "/jobs", f"/jobs/{seeded.failed}", "/jobs?state=failed", "/schedules",
             "/batches", f"/batches/{batch.id}", "/queues/default"]  # fmt: skip
    async with logged_in(base, width=390, height=844, scheme="dark") as page:
        for path in paths:
            await page.goto(base + path)
            await expect(page.locator("main h1")).to_be_visible()
            colours = await page.evaluate(
                "() => [getComputedStyle(document.body).backgroundColor,"
                " getComputedStyle(document.body).color]"
            )
            assert luminance(colours[0]) < 0.2 < 0.7 < luminance(colours[1]), (path, colours)
            # nothing sticks out sideways: wide tables scroll inside their cards
            overflow = await page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, (path, overflow)
            viewport = page.locator('meta[name="viewport"]')
            await expect(viewport).to_have_attribute("content", re.compile("width=device-width"))
        await page.goto(f"{base}/jobs/{seeded.failed}")
        await screenshot(page, "job-phone-dark")
    async with logged_in(base) as page:
        colour = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert luminance(colour) > 0.8  # light unless the system asks for dark


def test_without_chromium_skips_or_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tests.dashboard.test_browser as this

    monkeypatch.setattr(this, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        need_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="is missing"):
        need_chromium()
