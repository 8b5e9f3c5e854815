"""An app whose runner names its URL explicitly, and an attribute that is not a runner."""

from __future__ import annotations

from taskrunner import TaskRunner

runner = TaskRunner("memory://")
not_a_runner = {"url": "memory://"}
