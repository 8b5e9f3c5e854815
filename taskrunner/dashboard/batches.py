"""Batch pages: the batches, newest first, and one batch with its members' progress (and
`GET /api/batches/ID`, which its page polls while the batch runs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from taskrunner.backend import FINISHED_STATES, Batches, JobState
from taskrunner.batch import BatchInfo
from taskrunner.dashboard.context import View, route_path
from taskrunner.dashboard.search import valid_job_id
from taskrunner.errors import JobNotFound

PAGE_SIZE = 50
MEMBERS_SHOWN = 100  # members listed per page of a batch


@dataclass(frozen=True, slots=True)
class BatchView:
    """A batch as its pages show it: its record, and how many members have ended."""

    info: BatchInfo

    @property
    def settled(self) -> int:
        return sum(self.info.counts.get(state, 0) for state in FINISHED_STATES)

    @property
    def total(self) -> int:
        return self.info.total

    def as_dict(self) -> dict[str, Any]:
        info = self.info
        return {
            "id": info.id, "total": info.total, "closed": info.closed, "ended": info.ended,
            "settled": self.settled,
            "counts": {state.value: info.counts.get(state, 0) for state in JobState},
            "created_at": info.created_at.isoformat(),
            "ended_at": info.ended_at.isoformat() if info.ended_at else None,
            "on_success": info.on_success, "on_complete": info.on_complete,
            "success_fired": info.success_fired, "complete_fired": info.complete_fired,
        }  # fmt: skip


def keeps_batches(view: View) -> bool:
    return isinstance(view.runner.backend, Batches)


async def batches(view: View) -> Response:
    """`GET /batches`: the batches, newest first, with their progress."""
    if not keeps_batches(view):
        return view.message("No batches", "This backend keeps no batches.", 404)
    before = view.request.query_params.get("before") or None
    found = await view.runner.list_batches(
        PAGE_SIZE, before if before and valid_job_id(before) else None
    )
    older = view.url("/batches", before=found[-1].id) if len(found) == PAGE_SIZE else None
    return view.page("batches.html", "Batches", batches=[BatchView(b) for b in found], older=older)


async def find_batch(view: View) -> BatchInfo | None:
    batch_id = str(view.request.path_params["batch_id"])
    if not keeps_batches(view) or not valid_job_id(batch_id):
        return None
    try:
        return await view.runner.get_batch(batch_id)
    except JobNotFound:
        return None


async def batch(view: View) -> Response:
    """`GET /batches/ID`: the batch, its callbacks and its members, a page at a time."""
    info = await find_batch(view)
    if info is None:
        return view.message("No such batch", "No batch has that id (or it expired).", 404)
    after = view.request.query_params.get("after") or None
    handle = await view.runner.find_batch(info.id)
    ids = await handle.members(MEMBERS_SHOWN, after if after and valid_job_id(after) else None)
    members = [view.shown(job) for job in await view.runner.get_jobs(ids) if job is not None]
    later = view.url(f"/batches/{info.id}", after=ids[-1]) if len(ids) == MEMBERS_SHOWN else None
    return view.page(
        "batch.html",
        f"Batch {info.id}",
        batch=BatchView(info),
        states=[state.value for state in JobState],
        members=members,
        later=later,
        here=route_path(view.request),
    )


async def batch_json(view: View) -> Response:
    """`GET /api/batches/ID`: the batch's counts, for its page's script and for scripts."""
    info = await find_batch(view)
    if info is None:
        return JSONResponse({"error": "no such batch"}, 404)
    return JSONResponse(BatchView(info).as_dict())
