"""What changes state for one job: retry, cancel and delete (POST only, behind auth and CSRF
checks in `gate`), and how every action answers: a redirect with a notice, or JSON for a
script."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.responses import JSONResponse, Response

from taskrunner.backend import JobDeletion, JobState
from taskrunner.dashboard.context import NOTICE_FIELDS, Form, View, safe_next
from taskrunner.dashboard.search import valid_job_id
from taskrunner.errors import JobNotFound, TaskrunnerError


def answer(view: View, form: Form, back: str, notice: str, ok: bool, **data: object) -> Response:
    """Back to the form's `next` page (else `back`) with a notice; a script holding the
    token (no `next`) gets JSON: `done`, `notice` and `data` (409 when nothing was done)."""
    if view.session.bearer and "next" not in form:
        return JSONResponse({**data, "done": ok, "notice": notice}, 200 if ok else 409)
    path, _, query = safe_next(form.get("next"), back).partition("?")
    kept = urlencode([(k, v) for k, v in parse_qsl(query) if k not in NOTICE_FIELDS])
    counts = {k: str(v) for k, v in data.items() if k in NOTICE_FIELDS}
    return view.redirect(f"{path}?{kept}" if kept else path, notice=notice, **counts)


def _answer(view: View, job_id: str, notice: str, ok: bool, form: Form) -> Response:
    return answer(view, form, f"/jobs/{job_id}", notice, ok, job=job_id)


def _job_id(view: View) -> str | None:
    job_id = str(view.request.path_params["job_id"])
    return job_id if valid_job_id(job_id) else None


async def retry(view: View, form: Form) -> Response:
    job_id = _job_id(view)
    if job_id is None:
        return view.message("No such job", "That is not a job id.", 404)
    try:
        done = await view.runner.retry(job_id)
    except JobNotFound:
        return _answer(view, job_id, "gone", False, form)
    return _answer(view, job_id, "retried" if done else "not-retryable", done, form)


async def cancel(view: View, form: Form) -> Response:
    job_id = _job_id(view)
    if job_id is None:
        return view.message("No such job", "That is not a job id.", 404)
    try:
        before = await view.runner.get_job(job_id)
        if before.state.finished:
            return _answer(view, job_id, "finished", False, form)
        state = await view.runner.cancel(job_id)
    except JobNotFound:
        return _answer(view, job_id, "gone", False, form)
    notice = "cancel-requested" if state is JobState.RUNNING else "cancelled"
    return _answer(view, job_id, notice, True, form)


async def deletion(view: View) -> JobDeletion:
    """The backend, if it deletes single jobs; a `TaskrunnerError` saying so otherwise."""
    backend = await view.runner.connected()
    if not isinstance(backend, JobDeletion):
        raise TaskrunnerError(f"the {type(backend).__name__} cannot delete single jobs")
    return backend


async def delete(view: View, form: Form) -> Response:
    """`POST /jobs/ID/delete`: delete a finished job; then back to the job list."""
    job_id = _job_id(view)
    if job_id is None:
        return view.message("No such job", "That is not a job id.", 404)
    try:
        (done,) = await (await deletion(view)).delete([job_id])
    except TaskrunnerError as exc:
        return view.message("Cannot delete jobs here", str(exc), 400)
    if done:
        return answer(view, form, "/jobs", "deleted", True, job=job_id)
    # still there (not finished), or never was: back to its page, which says which
    return answer(view, form, f"/jobs/{job_id}", "not-deletable", False, job=job_id)
