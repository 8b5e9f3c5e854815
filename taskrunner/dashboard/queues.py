"""A queue's page: its counts and actions, its charts (throughput, failures and runtime per
minute over the last hour, drawn by the page's script from `/api/queues/QUEUE`) and its
latest jobs."""

from __future__ import annotations

from starlette.responses import Response

from taskrunner.backend import Inspection, JobState
from taskrunner.dashboard.context import View, queue_name, route_path
from taskrunner.dashboard.pages import STATES, QueueRow
from taskrunner.stats import QueueStats

LATEST = 20  # jobs listed on a queue's page


async def queue_page(view: View) -> Response:
    """`GET /queues/QUEUE`."""
    name = queue_name(view)
    if name is None:
        return view.message("No such queue", "That is not a queue name.", 404)
    stats = await view.runner.stats([name])
    # a queue exists by its name alone: one with no job yet shows empty (and can be paused)
    queue = stats.get(name) or QueueStats(dict.fromkeys(JobState, 0))
    jobs = None
    if isinstance(view.runner.backend, Inspection):
        jobs = [view.shown(j) for j in (await view.runner.list_jobs(queue=name, limit=LATEST)).jobs]
    return view.page(
        "queue.html",
        f"Queue {name}",
        queue=QueueRow.of(name, queue),
        states=STATES,
        series_url=view.url(f"/api/queues/{name}"),
        jobs=jobs,
        failed=queue.get(JobState.FAILED, 0),
        here=route_path(view.request),
    )
