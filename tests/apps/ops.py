"""The task the operations commands' tests enqueue by name (`ops.fetch`), as an app the CLI
can load to check a call before it stores it."""

from __future__ import annotations

from taskrunner import TaskRunner

runner = TaskRunner("memory://")


@runner.task(name="ops.fetch", retries=0, queue="feeds")
async def fetch(url: str) -> int:
    return len(url)
