"""The app `taskrunner dashboard` serves in the HTTP enqueue test: the dashboard tests'
tasks, on the memory backend of the dashboard's own process."""

from __future__ import annotations

from tests.dashboard.conftest import make_runner

runner = make_runner(None)
