"""An optional ability of a backend: the task registry (`TaskRegistry`).

Workers publish the specs of the tasks they run when they start; code that has not the
tasks' Python (the CLI without the app, the dashboard's HTTP door, an SQL function or a
Redis function called from another language) reads them to refuse unknown tasks and apply
each task's settings. A spec is a JSON object, opaque to the backend except where a door of
its own (SQL, Lua) reads it; `taskrunner.registry` says what it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class TaskRegistry(Protocol):
    """Task specs by task name, shared by every client of the store."""

    async def publish_tasks(self, specs: Mapping[str, bytes]) -> None:
        """Store each spec under its task's name, replacing the one stored (the last worker
        to start is taken to run the newest code)."""

    async def task_specs(self, names: Sequence[str] | None = None) -> dict[str, bytes]:
        """The stored specs by name: all of them, or those of `names` that are stored."""
