"""Failed jobs reported to Sentry, with outcome hooks.

Needs the Sentry SDK (`pip install sentry-sdk`). From a clone of the repository:

    SENTRY_DSN=https://<key>@<org>.ingest.sentry.io/<project> uv run python examples/sentry_hooks.py

Without SENTRY_DSN the SDK sends nothing, and the demo only prints what the hooks saw. A
runner-wide `on_failure` hook sends each job that failed for good to Sentry, tagged with the
job's id, task, queue and attempt; `on_retry` leaves a breadcrumb for each attempt that
failed and will be retried, so the final report shows the attempts before it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sentry_sdk

from taskrunner import AttemptEnded, TaskRunner, current_job

runner = TaskRunner()


@runner.on_retry
def note_retry(ended: AttemptEnded) -> None:
    """A breadcrumb per failed attempt that will be retried."""
    error = ended.error
    sentry_sdk.add_breadcrumb(
        category="taskrunner",
        message=f"job {ended.job.id} attempt {ended.job.attempt} failed; retry in "
        f"{ended.retry_in:.0f}s",
        data={"error": f"{error.type}: {error.message}" if error else None},
        level="warning",
    )


@runner.on_failure
def report_failure(ended: AttemptEnded) -> None:
    """The failure to Sentry, with the job's facts as tags: the exception the task raised,
    or a message for a job that could not run at all (an unknown task, a bad payload)."""
    if ended.exception is not None:
        sentry_sdk.capture_exception(ended.exception, tags=ended.tags)
    else:
        error = ended.error
        detail = f"{error.type}: {error.message}" if error else "no error recorded"
        sentry_sdk.capture_message(
            f"job {ended.job.id} ({ended.job.task}) failed: {detail}",
            level="error",
            tags=ended.tags,
        )


@runner.task(retries=1, backoff=0)
async def charge(order_id: int) -> None:
    """A payment call that keeps failing."""
    raise ConnectionError(f"payment provider unreachable (order {order_id}, attempt "
                          f"{current_job().attempt})")  # fmt: skip


@contextmanager
def sentry(dsn: str | None, **options: Any) -> Iterator[None]:
    """The Sentry SDK, started (it sends nothing without a DSN), then closed: what it still
    holds is sent first."""
    sentry_sdk.init(dsn=dsn, **options)
    try:
        yield
    finally:
        sentry_sdk.get_client().close()


async def main() -> None:
    with sentry(os.environ.get("SENTRY_DSN")):
        async with runner.worker():
            job = await charge.enqueue(42)
            info = await runner.wait_for(job.id, timeout=10)
        assert info is not None and info.error is not None
        print(f"job {job.id} {info.state}: {info.error.type}: {info.error.message}")
        print("reported to Sentry" if os.environ.get("SENTRY_DSN") else "no SENTRY_DSN set")


if __name__ == "__main__":
    asyncio.run(main())
