"""A tour of taskrunner on the memory backend, finishing in a few seconds.

Run it with:  uv run python examples/quickstart.py

It enqueues a job and reads its result back, delays one, lets a flaky job fail twice and
succeed on its third attempt, shows a job that fails for good (and why), and lets a
recurring job tick while an embedded worker runs.
"""

from __future__ import annotations

import asyncio
import logging
import time

from taskrunner import JobFailed, TaskRunner, current_job, every

runner = TaskRunner("memory://")
started = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - started:5.2f}s] {message}")


@runner.task
async def fetch_feed(url: str) -> int:
    """Pretend to fetch a feed and count its entries."""
    await asyncio.sleep(0.1)
    return len(url)


@runner.task(retries=3, backoff=0.2)
async def call_flaky_api(endpoint: str) -> str:
    attempt = current_job().attempt
    if attempt < 3:
        say(f"  call_flaky_api attempt {attempt}: the API timed out, will retry")
        raise TimeoutError(f"{endpoint} did not answer")
    say(f"  call_flaky_api attempt {attempt}: success")
    return f"{endpoint} answered on attempt {attempt}"


@runner.task(retries=0)
async def parse(document: str) -> None:
    raise ValueError(f"cannot parse {document!r}")


@runner.task
async def send_reminder(user: str) -> str:
    say(f"  send_reminder ran for {user}")
    return f"reminded {user}"


@runner.task(schedule=every(seconds=1))
async def refresh_all() -> None:
    say("  refresh_all ticked (recurring, every second)")


async def main() -> None:
    say("enqueue a feed fetch, a reminder in 1.5s, a flaky API call and a doomed parse")
    feed = await fetch_feed.enqueue("https://example.com/rss")
    reminder = await send_reminder.options(delay=1.5).enqueue("ada")
    flaky = await call_flaky_api.enqueue("https://api.example.com/v1")
    doomed = await parse.enqueue("<rss")
    say(f"reminder is {(await runner.get_job(reminder.id)).state} until it is due")

    async with runner.worker(concurrency=10):
        say(f"fetch_feed returned {await feed.result(timeout=5)}")
        say(f"call_flaky_api returned {await flaky.result(timeout=5)!r}")
        try:
            await doomed.result(timeout=5)
        except JobFailed as failed:
            say(
                f"parse failed for good: {failed.error.type if failed.error else ''}: "
                f"{failed.error.message if failed.error else ''}"
            )
        say(f"send_reminder returned {await reminder.result(timeout=5)!r}")
        await asyncio.sleep(1.0)  # let the recurring job tick once more

    info = await runner.get_job(flaky.id)
    say(f"flaky job: state={info.state}, attempts={info.attempt}/{info.max_attempts}")
    stats = await runner.stats()
    print("\nqueue totals:", {q: {s.value: n for s, n in c.items() if n} for q, c in stats.items()})


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="[log] %(name)s: %(message)s")
    asyncio.run(main())
