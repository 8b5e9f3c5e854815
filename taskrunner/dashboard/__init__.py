"""A small web dashboard for a TaskRunner: queues, jobs, failures, schedules; retry and cancel.

Needs the `dashboard` extra (`pip install "taskrunner-jobs[dashboard]"`). Mount it in an ASGI app,
`app.mount("/jobs", dashboard(runner, token=...))`, or run `taskrunner dashboard APP`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskrunner.dashboard.app import dashboard

MISSING_EXTRA = (
    'the dashboard needs Starlette and uvicorn: pip install "taskrunner-jobs[dashboard]"'
)

__all__ = ["MISSING_EXTRA", "dashboard"]


def __getattr__(name: str) -> Any:
    # imported on first use, so that `taskrunner.dashboard.command` loads without the extra
    if name != "dashboard":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from taskrunner.dashboard.app import dashboard
    except ModuleNotFoundError as exc:
        raise ImportError(MISSING_EXTRA) from exc
    return dashboard
