"""`POST /api/jobs`: enqueue a job from any language, as a job document (see
`taskrunner.job_format`) of a task of the served app or of the backend's task registry
(`taskrunner.registry`), always behind a token: the dashboard's own `token`, or an
`api_token` given for this door alone. A session cookie or a loopback address opens the
pages, never this: a browser form from another site cannot send the Authorization header,
so no CSRF token is needed either."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taskrunner.dashboard.guard import Guard
from taskrunner.dashboard.security import Verdict
from taskrunner.errors import TaskrunnerError
from taskrunner.job_format import prepared_job
from taskrunner.registry import registered_task
from taskrunner.runner import TaskRunner
from taskrunner.task import Task

BODY_SLACK = 64 * 1024  # bytes a document may hold beyond the payload limit (its options)


class EnqueueDoor:
    """The endpoint of `POST /api/jobs` for one dashboard."""

    def __init__(self, runner: TaskRunner, guard: Guard) -> None:
        self.runner = runner
        self.guard = guard

    async def endpoint(self, request: Request) -> Response:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        body = await read_body(request, self.runner.max_payload + BODY_SLACK)
        if body is None:
            return error(413, "the job document is too large")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return error(400, f"the body is not JSON: {exc}")
        try:
            task = await self.task_of(document)
            prepared = prepared_job(document, lambda _: task)
            (job,) = await self.runner.enqueue_many([prepared])
        except TaskrunnerError as exc:
            return error(400, str(exc))
        return JSONResponse(
            {"id": job.id, "duplicate": job.duplicate}, 200 if job.duplicate else 201
        )

    async def task_of(self, document: object) -> Task[..., Any] | None:
        """The task a document names: the served app's, else a stand-in from the backend's
        task registry (None: unknown, which `prepared_job` refuses)."""
        name = document.get("task") if isinstance(document, dict) else None
        if not isinstance(name, str):
            return None
        task = self.runner.tasks.get(name)
        if task is None:
            await self.runner.connect()
            task = await registered_task(self.runner, self.runner.backend, name)
        return task

    def refusal(self, request: Request) -> Response | None:
        if not self.guard.protected:
            return error(
                403,
                "enqueueing over HTTP needs a token: serve the dashboard with token= (or "
                "api_token=, for this door alone)",
            )
        client = request.client.host if request.client else "unknown"
        verdict = self.guard.bearer(client, request.headers.get("authorization"))
        if verdict is None:
            return error(401, "send the token: Authorization: Bearer <token>")
        if verdict is Verdict.WRONG:
            return error(401, "wrong token")
        if verdict is Verdict.THROTTLED:
            return error(429, "too many wrong tokens from your address: wait a few minutes")
        return None


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None once it grows past `limit` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


def error(status: int, text: str) -> Response:
    return JSONResponse({"error": text}, status)
