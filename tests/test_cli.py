"""`taskrunner run` as a real process: signals, exit codes, options and startup errors.

The apps under tests/apps enqueue their own jobs at startup (the memory backend lives in the
worker process) and talk to these tests through files; see tests/apps/__init__.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.apps import DIR_ENV, STATES_FILE

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).with_name("taskrunner")
COMMAND = (
    [str(SCRIPT)]
    if SCRIPT.exists()
    else [sys.executable, "-c", "from taskrunner.cli import main; main()"]
)
TIMEOUT = 30.0  # an upper bound for anything to happen; never reached when things work
PASSWORD = "s3cret-pa55"


@dataclass
class RunningWorker:
    """A `taskrunner run ...` process, its output files and its signal directory."""

    proc: subprocess.Popen[bytes]
    signals: Path
    stdout_path: Path
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll `condition`; fail if the process exits first or TIMEOUT passes."""
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            if self.proc.poll() is not None:
                if condition():
                    return
                pytest.fail(f"worker exited ({self.proc.returncode}) before {what}:\n{self.stderr}")
            if time.monotonic() > deadline:
                pytest.fail(f"gave up waiting for {what}:\n{self.stderr}")
            time.sleep(0.02)

    def wait_for_file(self, name: str) -> None:
        self.wait_until((self.signals / name).exists, f"file {name!r} appeared")

    def wait_for_log(self, text: str) -> None:
        self.wait_until(lambda: text in self.stderr, f"the log said {text!r}")

    def exit_code(self) -> int:
        try:
            return self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker did not exit within {TIMEOUT}s:\n{self.stderr}")

    def touch(self, name: str) -> None:
        (self.signals / name).write_text("")

    def exists(self, name: str) -> bool:
        return (self.signals / name).exists()

    def states(self) -> dict[str, str]:
        """The job states the app's shutdown hook wrote."""
        states: dict[str, str] = json.loads((self.signals / STATES_FILE).read_text())
        return states


@contextmanager
def taskrunner(tmp_path: Path, *args: str, command: list[str] = COMMAND) -> Iterator[RunningWorker]:
    """Start `taskrunner run ARGS` in the repository root; kill it whatever happens."""
    signals = tmp_path / "signals"
    signals.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "TASKRUNNER_URL"}
    env |= {DIR_ENV: str(signals), "PYTHONUNBUFFERED": "1"}
    stdout_path, stderr_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen([*command, "run", *args], cwd=REPO, env=env, stdout=out, stderr=err)
    try:
        yield RunningWorker(proc, signals, stdout_path, stderr_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def assert_no_traceback(worker: RunningWorker) -> None:
    assert "Traceback" not in worker.stderr + worker.stdout


# -- signals --------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_lets_the_running_job_finish_and_exits_0(
    tmp_path: Path, signum: signal.Signals
) -> None:
    with taskrunner(tmp_path, "tests.apps.gate:runner", "--concurrency", "1") as worker:
        worker.wait_for_file("started-first")
        worker.proc.send_signal(signum)
        worker.wait_for_log(f"{signum.name} received")
        worker.touch("release")  # the job finishes only now, well within the grace period
        assert worker.exit_code() == 0
        assert worker.exists("finished-first")
        assert not worker.exists("started-second")  # no new job claimed after the signal
        assert worker.states() == {"first": "succeeded", "second": "queued"}
        log = worker.stderr
        assert "no new jobs" in log
        assert "waiting up to 25s for 1 running jobs" in log
        assert "1 succeeded, 0 failed, 0 retried, 0 snoozed, 0 put back" in log
        assert "putting back" not in log
        assert_no_traceback(worker)


def test_job_that_outlasts_the_grace_period_is_put_back_and_exit_code_is_1(
    tmp_path: Path,
) -> None:
    with taskrunner(
        tmp_path, "tests.apps.gate:runner", "--concurrency", "1", "--grace", "0.3"
    ) as worker:
        worker.wait_for_file("started-first")
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.exit_code() == 1
        assert not worker.exists("finished-first")
        assert worker.states() == {"first": "queued", "second": "queued"}
        log = worker.stderr
        assert "SIGTERM received" in log
        assert "putting back 1 jobs that did not finish in time" in log
        assert "put back: the worker is stopping" in log
        assert "0 succeeded, 0 failed, 0 retried, 0 snoozed, 1 put back" in log
        assert_no_traceback(worker)


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_stops_at_once_and_puts_the_job_back(
    tmp_path: Path, second: signal.Signals
) -> None:
    # a grace far longer than TIMEOUT: only the second signal can end the wait in time
    with taskrunner(
        tmp_path, "tests.apps.gate:runner", "--concurrency", "1", "--grace", "600"
    ) as worker:
        worker.wait_for_file("started-first")
        worker.proc.send_signal(signal.SIGTERM)
        worker.wait_for_log("SIGTERM received")
        worker.proc.send_signal(second)
        assert worker.exit_code() == 1
        assert not worker.exists("finished-first")
        assert worker.states() == {"first": "queued", "second": "queued"}
        log = worker.stderr
        assert f"{second.name} received again: stopping now" in log
        assert "1 put back" in log
        assert_no_traceback(worker)


# -- options --------------------------------------------------------------------------------


def test_burst_runs_due_jobs_then_exits_0(tmp_path: Path) -> None:
    with taskrunner(tmp_path, "tests.apps.burst:runner", "--burst") as worker:
        assert worker.exit_code() == 0
        assert all(worker.exists(f"done-{n}") for n in range(5))
        assert not worker.exists("done-99")  # due in an hour: not waited for
        states = worker.states()
        assert states.pop("later") == "scheduled"
        assert set(states.values()) == {"succeeded"}
        assert len(states) == 5
        assert "5 succeeded" in worker.stderr
        assert_no_traceback(worker)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_bounds_how_many_jobs_run_at_once(tmp_path: Path, concurrency: int) -> None:
    with taskrunner(
        tmp_path, "tests.apps.gated:runner", "--burst", "--concurrency", str(concurrency)
    ) as worker:

        def enough_started() -> bool:
            return sum(worker.exists(f"started-{n}") for n in range(4)) >= concurrency

        worker.wait_until(enough_started, f"{concurrency} jobs started")
        # the started jobs hold until the gate opens, so all that could start have started
        worker.touch("gate")
        assert worker.exit_code() == 0
        assert (worker.signals / "peak").read_text() == str(concurrency)
        assert set(worker.states().values()) == {"succeeded"}
        assert f"concurrency {concurrency}" in worker.stderr


@pytest.mark.parametrize(
    ("options", "served"),
    [
        ([], {"alpha", "beta", "default"}),
        (["--queue", "alpha"], {"alpha"}),
        (["-q", "beta", "-q", "default"], {"beta", "default"}),
    ],
)
def test_queue_option_picks_the_queues_served(
    tmp_path: Path, options: list[str], served: set[str]
) -> None:
    with taskrunner(tmp_path, "tests.apps.queues:runner", "--burst", *options) as worker:
        assert worker.exit_code() == 0
        ran = {q for q in ("alpha", "beta", "default") if worker.exists(f"ran-{q}")}
        assert ran == served
        states = worker.states()
        assert {q for q, state in states.items() if state == "succeeded"} == served
        assert {q for q, state in states.items() if state == "queued"} == set(states) - served


# -- startup errors: exit code 2, one line on stderr, no traceback ----------------------------


def run_to_error(tmp_path: Path, *args: str, command: list[str] = COMMAND) -> str:
    """Run a command that must fail at startup; answer its single stderr line."""
    with taskrunner(tmp_path, *args, command=command) as worker:
        assert worker.exit_code() == 2
        stderr = worker.stderr
        assert worker.stdout == ""
        assert_no_traceback(worker)
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, stderr
        assert lines[0].startswith("error: ")
        return lines[0]


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("tests.apps.nosuchmodule:runner", "cannot import 'tests.apps.nosuchmodule'"),
        ("nosuchpackage.tasks:runner", "cannot import 'nosuchpackage.tasks'"),
        ("tests.apps.misc:nope", "module 'tests.apps.misc' has no attribute 'nope'"),
        (
            "tests.apps.misc:not_a_runner",
            "tests.apps.misc:not_a_runner is a dict, not a TaskRunner",
        ),
        ("tests.apps.misc", "expected module.path:runner"),
        ("tests.apps.misc:", "expected module.path:runner"),
    ],
)
def test_bad_app_path_is_a_one_line_error(tmp_path: Path, app: str, expected: str) -> None:
    assert expected in run_to_error(tmp_path, app, "--burst")


def test_unknown_url_scheme_is_a_one_line_error(tmp_path: Path) -> None:
    line = run_to_error(
        tmp_path, "tests.apps.burst:runner", "--burst", "--url", f"nosuch://me:{PASSWORD}@x"
    )
    assert "no taskrunner backend for nosuch:// URLs" in line
    assert "memory" in line  # names the backends that are installed
    assert PASSWORD not in line


def redis_backend_installed() -> bool:
    return any(ep.name == "redis" for ep in entry_points(group="taskrunner.backends"))


# The same command, in an environment where no Redis backend is installed: the child hides
# the entry points of the redis schemes before taskrunner looks them up.
WITHOUT_REDIS = [
    sys.executable,
    "-c",
    "import importlib.metadata as m\n"
    "installed = m.entry_points\n"
    "def entry_points(**select):\n"
    "    found = installed(**select)\n"
    "    return m.EntryPoints(ep for ep in found if ep.name not in ('redis', 'rediss'))\n"
    "m.entry_points = entry_points\n"
    "from taskrunner.cli import main\n"
    "main()\n",
]


@pytest.mark.parametrize("scheme", ["redis", "rediss"])
def test_redis_url_without_the_redis_backend_is_a_one_line_error(
    tmp_path: Path, scheme: str
) -> None:
    line = run_to_error(
        tmp_path,
        "tests.apps.burst:runner",
        "--burst",
        "--url",
        f"{scheme}://worker:{PASSWORD}@localhost:6379/0",
        command=WITHOUT_REDIS,
    )
    assert f"no taskrunner backend for {scheme}:// URLs" in line
    assert "taskrunner-jobs[redis]" in line  # says what to install
    assert PASSWORD not in line


@pytest.mark.skipif(not redis_backend_installed(), reason="no Redis backend installed")
def test_unreachable_redis_is_a_one_line_error_without_the_password(tmp_path: Path) -> None:
    url = f"redis://worker:{PASSWORD}@127.0.0.1:1/0"  # nothing listens on port 1
    with taskrunner(tmp_path, "tests.apps.burst:runner", "--burst", "--url", url) as worker:
        assert worker.exit_code() == 1
        output = worker.stdout + worker.stderr
        assert PASSWORD not in output
        assert_no_traceback(worker)
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1
        assert "worker:***@127.0.0.1:1" in errors[0]


def test_unknown_url_scheme_overriding_an_explicit_app_url_is_a_one_line_error(
    tmp_path: Path,
) -> None:
    line = run_to_error(tmp_path, "tests.apps.misc:runner", "--burst", "--url", "nosuch://x")
    assert "no taskrunner backend for nosuch:// URLs" in line


def test_password_in_a_malformed_url_is_never_printed(tmp_path: Path) -> None:
    line = run_to_error(
        tmp_path,
        "tests.apps.burst:runner",
        "--burst",
        "--url",
        f"redis:/worker:{PASSWORD}@localhost:6379/0",
    )
    assert "has no scheme" in line
    assert PASSWORD not in line
