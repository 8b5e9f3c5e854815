"""`taskrunner run --reload`, for development: the worker runs in a child process that is
stopped and started again whenever a Python file under the current directory changes.

It needs `watchfiles` (the `reload` extra). The child is the same `taskrunner run`
command without `--reload`; a change stops it as SIGINT does (running jobs get `--grace`,
then are put back), and a new one starts with the new code.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from taskrunner.cli._app import fail

if TYPE_CHECKING:
    from watchfiles import Change

log = logging.getLogger("taskrunner.cli")

MISSING_WATCHFILES = (
    'taskrunner run --reload needs watchfiles: pip install "taskrunner-jobs[reload]"'
)
SIGKILL_MARGIN = 5  # seconds past --grace before a child that will not stop is killed


def worker_command(arguments: Sequence[str]) -> list[str]:
    """The child's command: this `taskrunner` invocation without `--reload`."""
    return [sys.executable, "-m", "taskrunner", *(a for a in arguments if a != "--reload")]


def run_reloading(arguments: Sequence[str], grace: float) -> None:
    """Run `taskrunner ARGUMENTS` (less --reload) in a child, anew after each change of a
    Python file under the current directory, until SIGINT or SIGTERM."""
    try:
        from watchfiles import PythonFilter, run_process
    except ImportError:
        raise fail(MISSING_WATCHFILES) from None

    def changed(changes: set[tuple[Change, str]]) -> None:
        paths = sorted({os.path.relpath(path) for _, path in changes})
        log.info("changed: %s; restarting the worker", ", ".join(paths[:5]))

    log.info("watching %s for changes to Python files (--reload)", os.getcwd())
    run_process(
        os.getcwd(),
        target=shlex.join(worker_command(arguments)),
        target_type="command",
        callback=changed,
        watch_filter=PythonFilter(),
        sigint_timeout=math.ceil(grace) + SIGKILL_MARGIN,
    )
