"""An app with a task under a `Limit` and a `Rate`, for the CLI's enqueue and job views."""

from __future__ import annotations

from taskrunner import Limit, Rate, TaskRunner

runner = TaskRunner("memory://")


@runner.task(name="crm.sync", limit=Limit(1, key="customer:{customer_id}"), rate=Rate(5))
async def sync(customer_id: int) -> None: ...
