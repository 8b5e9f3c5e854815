"""What changes state: retry and cancel (POST only, behind auth and CSRF checks in `app`)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.responses import JSONResponse, Response

from taskrunner.backend import JobState
from taskrunner.dashboard.context import View, safe_next
from taskrunner.dashboard.pages import valid_job_id
from taskrunner.errors import JobNotFound


def _answer(view: View, job_id: str, notice: str, ok: bool, form: dict[str, str]) -> Response:
    if view.session.bearer and "next" not in form:  # a script: answer in JSON
        return JSONResponse({"job": job_id, "done": ok, "notice": notice}, 200 if ok else 409)
    path, _, query = safe_next(form.get("next"), f"/jobs/{job_id}").partition("?")
    kept = urlencode([(k, v) for k, v in parse_qsl(query) if k != "notice"])
    return view.redirect(f"{path}?{kept}" if kept else path, notice=notice)


def _job_id(view: View) -> str | None:
    job_id = str(view.request.path_params["job_id"])
    return job_id if valid_job_id(job_id) else None


async def retry(view: View, form: dict[str, str]) -> Response:
    job_id = _job_id(view)
    if job_id is None:
        return view.message("No such job", "That is not a job id.", 404)
    try:
        done = await view.runner.retry(job_id)
    except JobNotFound:
        return _answer(view, job_id, "gone", False, form)
    return _answer(view, job_id, "retried" if done else "not-retryable", done, form)


async def cancel(view: View, form: dict[str, str]) -> Response:
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
