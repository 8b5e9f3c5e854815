"""The benchmark harness holds its servers for one run at a time."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from harness.namespaces import Servers


def test_a_second_run_on_the_same_servers_waits_for_the_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    servers = Servers(redis="redis://127.0.0.1:1/unused-lock-test")
    events: list[str] = []

    def second_run() -> None:
        with servers.exclusive("redis"):
            events.append("second started")

    with servers.exclusive("redis"):
        other = threading.Thread(target=second_run)
        other.start()
        deadline = time.monotonic() + 10
        while "waiting" not in capsys.readouterr().err and time.monotonic() < deadline:
            time.sleep(0.01)
        events.append("first finished")
    other.join(10)

    assert events == ["first finished", "second started"]


def test_runs_on_other_servers_do_not_wait() -> None:
    first, second = Servers(redis="redis://127.0.0.1:2/a"), Servers(redis="redis://127.0.0.1:3/b")
    with first.exclusive("redis"), second.exclusive("redis"):
        pass  # the second lock was granted at once: no deadlock, no wait
