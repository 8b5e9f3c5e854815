"""The chaos app in a process whose wall clock is CLOCK_SKEW seconds off (+ fast, - slow).

Only the wall clock moves (time.time, time.time_ns): what the worker judges by it would go
wrong; due times and leases must be judged on the backend's clock.
"""

from __future__ import annotations

import os
import time

_skew = float(os.environ.get("CLOCK_SKEW", "0"))
_time, _time_ns = time.time, time.time_ns
time.time = lambda: _time() + _skew
time.time_ns = lambda: _time_ns() + int(_skew * 1e9)

from tests.chaos.apps.ledger import runner  # noqa: E402

__all__ = ["runner"]
