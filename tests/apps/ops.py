"""The tasks the operations commands' tests enqueue by name (`ops.fetch`, `ops.sign_in`), as
an app the CLI can load to check a call before it stores it, or to name its arguments."""

from __future__ import annotations

from taskrunner import TaskRunner

runner = TaskRunner("memory://")


@runner.task(name="ops.fetch", retries=0, queue="feeds")
async def fetch(url: str) -> int:
    return len(url)


@runner.task(name="ops.sign_in", queue="feeds")
async def sign_in(user: str, password: str, settings: dict[str, str] | None = None) -> None:
    return None
