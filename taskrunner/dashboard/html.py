"""The dashboard's templates: Jinja2 with autoescaping on, so every value put into a page is
escaped unless a template marks it safe (none does for data). Templates live in
`templates/`; `_parts.html` holds the macros pages share (badges, job rows, buttons)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cache
from importlib import resources
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from taskrunner._present import seconds
from taskrunner.backend import JobState
from taskrunner.job import utc_time

PACKAGE = "taskrunner.dashboard"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# the states a job can be retried from (a scheduled one: run now) and cancelled in
RETRYABLE = frozenset(s.value for s in (JobState.FAILED, JobState.CANCELLED, JobState.SCHEDULED))
CANCELLABLE = frozenset(
    s.value for s in (JobState.WAITING, JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING)
)


def as_json(value: Any) -> str:
    """`value` as indented JSON text (still to be escaped by the template)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=repr).decode()


@pass_context
def clock(context: Context, moment: datetime) -> str:
    """`moment` in the page's time zone (the `zone` the page was rendered with)."""
    zone: tzinfo = context["zone"]
    return moment.astimezone(zone).strftime(TIME_FORMAT)


@cache
def environment() -> Environment:
    """The one Jinja2 environment of the dashboard (autoescaping every template)."""
    env = Environment(
        loader=PackageLoader(PACKAGE, "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["json"] = as_json
    env.filters["clock"] = clock
    env.filters["duration"] = seconds
    env.filters["epoch"] = utc_time  # seconds since the epoch to a datetime
    env.globals.update(retryable=RETRYABLE, cancellable=CANCELLABLE)
    return env


def render(name: str, **values: Any) -> str:
    """The template `templates/<name>` rendered with `values` (escaped where they land)."""
    return environment().get_template(name).render(values)


@cache
def static_file(name: str) -> bytes:
    """A file of `static/`, read once."""
    return resources.files(PACKAGE).joinpath("static", name).read_bytes()
