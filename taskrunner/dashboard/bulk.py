"""Actions on many jobs and on queues: retry, cancel or delete the jobs ticked on a list,
retry every failed job of a queue, pause and resume a queue. POST only, behind the auth and
CSRF checks of `gate`; each answers how many jobs it changed."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import Response

from taskrunner.backend import JobState
from taskrunner.dashboard.actions import answer, deletion
from taskrunner.dashboard.context import Form, View, queue_name
from taskrunner.dashboard.search import valid_job_id
from taskrunner.errors import TaskrunnerError

MAX_SELECTED = 200  # ids one bulk action takes (a page shows 50)
RETRY_CHUNK = 500  # failed jobs retried per round trip by "retry all failed"


def selected(form: Form) -> list[str] | None:
    """The distinct job ids ticked in `form`, in order; None if one is not a job id."""
    ids = list(dict.fromkeys(form.getlist("id")))
    return ids if all(valid_job_id(i) for i in ids) else None


async def bulk(view: View, form: Form) -> Response:
    """`POST /jobs/bulk`: `action` (retry, cancel or delete) on the ticked `id`s."""
    action = form.get("action", "")
    ids = selected(form)
    if action not in BULK_ACTIONS:
        return view.message("Unknown action", "Choose retry, cancel or delete.", 400)
    if ids is None or len(ids) > MAX_SELECTED:
        text = f"Give up to {MAX_SELECTED} job ids, each a valid id."
        return view.message("Bad selection", text, 400)
    if not ids:
        return answer(view, form, "/jobs", "none-selected", False, count=0, of=0)
    try:
        done = await BULK_ACTIONS[action](view, ids)
    except TaskrunnerError as exc:
        return view.message("Cannot do that here", str(exc), 400)
    notice = f"bulk-{action}"
    return answer(view, form, "/jobs", notice, bool(done), count=len(done), of=len(ids), ids=done)


async def retry_many(view: View, ids: Sequence[str]) -> list[str]:
    """Retry those of `ids` that are failed, cancelled or scheduled; the ids retried."""
    backend = await view.runner.connected()
    return [i for i, ok in zip(ids, await backend.retry(ids), strict=True) if ok]


async def cancel_many(view: View, ids: Sequence[str]) -> list[str]:
    """Cancel those of `ids` that have not finished (a running one is asked to stop)."""
    backend = await view.runner.connected()
    before = await backend.get(ids)
    open_ids = [r.id for r in before if r is not None and not r.state.finished]
    if not open_ids:
        return []
    after = await backend.cancel(open_ids, view.runner.result_ttl)
    wanted = (JobState.CANCELLED, JobState.RUNNING)
    return [i for i, state in zip(open_ids, after, strict=True) if state in wanted]


async def delete_many(view: View, ids: Sequence[str]) -> list[str]:
    """Delete those of `ids` that have finished (succeeded, failed or cancelled)."""
    backend = await deletion(view)
    return [i for i, ok in zip(ids, await backend.delete(ids), strict=True) if ok]


BULK_ACTIONS = {"retry": retry_many, "cancel": cancel_many, "delete": delete_many}


async def retry_failed(view: View, form: Form) -> Response:
    """`POST /queues/{queue}/retry-failed`: every failed job of the queue, queued again."""
    queue = queue_name(view)
    if queue is None:
        return view.message("No such queue", "That is not a queue name.", 404)
    try:
        done = await retry_all_failed(view, queue)
    except TaskrunnerError as exc:
        return view.message("Cannot list jobs", str(exc), 400)
    return answer(view, form, "/", "retried-failed", done > 0, count=done, queue=queue)


async def retry_all_failed(view: View, queue: str) -> int:
    """Retry the queue's failed jobs, a chunk per round trip, newest first; how many."""
    done = 0
    before = None
    while True:
        page = await view.runner.list_jobs(
            queue=queue, state=JobState.FAILED, limit=RETRY_CHUNK, before=before
        )
        done += len(await retry_many(view, [job.id for job in page.jobs]))
        if page.next is None:
            return done
        before = page.next


async def pause(view: View, form: Form) -> Response:
    """`POST /queues/{queue}/pause`: no worker takes the queue's jobs until resumed."""
    return await pausing(view, form, resume=False)


async def resume(view: View, form: Form) -> Response:
    """`POST /queues/{queue}/resume`: workers take the queue's jobs again."""
    return await pausing(view, form, resume=True)


async def pausing(view: View, form: Form, *, resume: bool) -> Response:
    queue = queue_name(view)
    if queue is None:
        return view.message("No such queue", "That is not a queue name.", 404)
    try:
        await (view.runner.resume(queue) if resume else view.runner.pause(queue))
    except TaskrunnerError as exc:
        return view.message("Cannot pause queues here", str(exc), 400)
    return answer(view, form, "/", "resumed" if resume else "paused", True, queue=queue)
