"""Pieces of pages that show jobs: state badges, action buttons, job rows, errors, attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from taskrunner._present import seconds
from taskrunner.backend import JobState
from taskrunner.dashboard.context import View
from taskrunner.dashboard.html import Html, fragment, join
from taskrunner.errors import JobError
from taskrunner.job import AttemptInfo, JobInfo

RETRYABLE = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.SCHEDULED})
CANCELLABLE = frozenset({JobState.WAITING, JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING})


def when(moment: datetime | None) -> Html:
    if moment is None:
        return Html("&ndash;")
    return fragment(
        '<time datetime="{}">{}</time>', moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M:%S")
    )


def badge(state: str) -> Html:
    return fragment('<span class="state state-{}">{}</span>', state, state)


def as_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=repr).decode()


def job_link(view: View, job_id: str, text: str | None = None) -> Html:
    return fragment('<a href="{}">{}</a>', view.url(f"/jobs/{job_id}"), text or job_id)


def action(view: View, info: JobInfo, verb: str, back: str) -> Html:
    label = {"retry": "Retry" if info.state is not JobState.SCHEDULED else "Run now"}.get(
        verb, verb.capitalize()
    )
    return fragment(
        '<form method="post" action="{}" class="inline">{}'
        '<input type="hidden" name="next" value="{}">'
        '<button class="{}" data-job="{}">{}</button></form>',
        view.url(f"/jobs/{info.id}/{verb}"),
        view.csrf_field(),
        back,
        verb,
        info.id,
        label,
    )


def actions(view: View, info: JobInfo, back: str) -> Html:
    parts = []
    if info.state in RETRYABLE:
        parts.append(action(view, info, "retry", back))
    if info.state in CANCELLABLE and not info.cancel_requested:
        parts.append(action(view, info, "cancel", back))
    return join(parts)


def error_summary(error: JobError | None) -> Html:
    if error is None:
        return Html("")
    return fragment('<span class="error-type">{}</span>: {}', error.type, error.message)


def traceback_block(error: JobError | None, open_: bool = False) -> Html:
    if error is None or not error.traceback:
        return Html("")
    return fragment(
        '<details class="traceback"{}><summary>traceback</summary><pre>{}</pre></details>',
        Html(" open") if open_ else "",
        error.traceback,
    )


def job_rows(view: View, jobs: list[JobInfo], back: str, tracebacks: bool) -> Html:
    rows = []
    for info in jobs:
        rows.append(
            fragment(
                '<tr data-job="{}"><td class="id">{}</td><td>{}</td><td>{}</td><td>{}</td>'
                '<td class="num">{}/{}</td><td>{}</td><td>{}</td><td class="error">{}</td>'
                '<td class="actions">{}</td></tr>',
                info.id,
                job_link(view, info.id),
                info.task,
                info.queue,
                badge(info.state.value),
                info.attempt,
                info.max_attempts,
                when(info.enqueued_at),
                when(info.finished_at),
                error_summary(info.error),
                actions(view, info, back),
            )
        )
        if tracebacks and info.error is not None and info.error.traceback:
            rows.append(
                fragment(
                    '<tr class="detail"><td colspan="9">{}</td></tr>', traceback_block(info.error)
                )
            )
    return join(rows)


JOB_HEADER = Html(
    "<tr><th>id</th><th>task</th><th>queue</th><th>state</th><th>attempt</th>"
    "<th>enqueued</th><th>finished</th><th>error</th><th></th></tr>"
)


def attempt_rows(attempts: list[AttemptInfo]) -> Html:
    rows = []
    for attempt in attempts:
        rows.append(
            fragment(
                '<tr><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}'
                "</td><td>{}</td><td>{}</td></tr>",
                attempt.attempt,
                attempt.worker or "",
                when(attempt.started_at),
                when(attempt.ended_at),
                seconds(attempt.duration),
                badge(attempt.outcome.value),
                error_summary(attempt.error),
            )
        )
        if attempt.error is not None and attempt.error.traceback:
            rows.append(
                fragment(
                    '<tr class="detail"><td colspan="7">{}</td></tr>',
                    traceback_block(attempt.error),
                )
            )
    return join(rows)
