"""The command line as a whole: `--version`, `-h` on every command, the app given the same
way to every command (APP, `--app`/`-a`, TASKRUNNER_APP), and `taskrunner run --reload`
restarting a real worker process when its code changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

import orjson
import pytest
import typer.main
from typer.testing import CliRunner

import taskrunner
from taskrunner import TaskRunner
from taskrunner.cli import app
from tests.test_cli import REPO, TIMEOUT
from tests.test_cli_ops import environment_restored, run

__all__ = ["environment_restored"]  # the autouse fixture of these tests too

cli = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
MISSING_APP = "tests.apps.nosuchmodule:runner"
# what each command needs besides the app to get as far as loading it
ARGUMENTS: dict[str, list[str]] = {
    "run": [], "jobs": [], "job": ["some-id"], "stats": [], "dashboard": [], "migrate": [],
    "batches": [], "retry": ["some-id"], "cancel": ["some-id"], "delete": ["some-id"],
    "purge": ["--state", "failed"], "pause": ["emails"], "resume": ["emails"],
    "enqueue": ["ops.fetch"],
}  # fmt: skip


def test_version_is_the_distributions() -> None:
    out = cli.invoke(app, ["--version"])
    assert (out.exit_code, out.stdout) == (0, f"taskrunner {taskrunner.__version__}\n")
    assert cli.invoke(app, ["-V"]).stdout == out.stdout
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert taskrunner.__version__ == project["version"] == version(project["name"])


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_has_help(flag: str) -> None:
    top = cli.invoke(app, [flag])
    assert top.exit_code == 0 and "--version" in top.stdout and "TASKRUNNER_APP" in top.stdout
    for name in COMMANDS:
        out = cli.invoke(app, [name, flag])
        assert out.exit_code == 0, (name, out.output)
        assert f"Usage: taskrunner {name}" in out.stdout or f"Usage: root {name}" in out.stdout


def test_every_command_is_checked_below() -> None:
    assert set(ARGUMENTS) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(ARGUMENTS))
def test_every_command_takes_the_app_as_an_option_or_from_the_environment(command: str) -> None:
    for how, env in (
        (["--app", MISSING_APP], {}),
        (["-a", MISSING_APP], {}),
        ([], {"TASKRUNNER_APP": MISSING_APP}),
    ):
        out = cli.invoke(app, [command, *ARGUMENTS[command], *how], env=env)
        assert out.exit_code == 2, (command, how, out.output)
        assert "cannot import 'tests.apps.nosuchmodule'" in out.stderr


def test_the_app_reads_the_same_in_every_form(shared_url: str) -> None:
    async def enqueue(runner: TaskRunner) -> str:
        return (await runner.tasks["ops.sign_in"].enqueue("ada", "hunter22")).id

    job_id = run(shared_url, enqueue)
    ops = "tests.apps.ops:runner"
    forms: list[tuple[list[str], dict[str, str]]] = [
        ([ops], {}),  # positional, as `jobs` took it before
        (["--app", ops], {}),
        (["-a", ops], {}),
        ([], {"TASKRUNNER_APP": ops}),
        ([ops], {"TASKRUNNER_APP": MISSING_APP}),  # the command line wins
    ]
    for given, env in forms:
        for command in (["jobs", "--json"], ["job", job_id, "--json"]):
            out = cli.invoke(app, [*command, *given, "--url", shared_url], env=env)
            assert out.exit_code == 0, (given, env, out.output)
            data = orjson.loads(out.stdout)
            shown = data["jobs"][0] if "jobs" in data else data
            assert shown["args"] == ["ada", "***"]  # the app named the arguments
    twice = cli.invoke(app, ["jobs", ops, "--app", "tests.apps.misc:runner"])
    assert twice.exit_code == 2 and "give the app once" in twice.stderr


def test_run_takes_the_app_as_an_option(tmp_path: Path) -> None:
    env = os.environ | {"TASKRUNNER_TEST_DIR": str(tmp_path)}
    env.pop("TASKRUNNER_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "taskrunner", "run", "--app", "tests.apps.burst:runner", "--burst"],
        cwd=REPO, env=env, capture_output=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert all((tmp_path / f"done-{n}").exists() for n in range(5))
    missing = cli.invoke(app, ["run"])
    assert missing.exit_code == 2 and "give the app" in missing.stderr


# -- run --reload -----------------------------------------------------------------------------

APP = """\
from pathlib import Path

from taskrunner import TaskRunner

HERE = Path(__file__).resolve().parent
runner = TaskRunner(f"sqlite:///{HERE / 'jobs.db'}")
VERSION = 1


@runner.task(name="reload.probe")
def probe() -> None:
    (HERE / f"ran-{VERSION}").write_text("")
"""


def probe_enqueued(url: str) -> None:
    async def enqueue(runner: TaskRunner) -> None:
        @runner.task(name="reload.probe")
        def probe() -> None: ...

        await probe.enqueue()

    run(url, enqueue)


def wait_for(path: Path, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Enqueue a probe job now and then until `path` appears (the worker must not exit)."""
    deadline = time.monotonic() + TIMEOUT * 2
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no {path.name} (exit {proc.poll()}):\n{log.read_text()}")
        probe_enqueued(url)
        time.sleep(0.5)


def ignoring_sigint() -> None:
    """Start a child as a shell without job control starts `cmd &`: with SIGINT ignored
    (inherited across exec). The CI's shell started the tests so, and SIGINT was lost."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
def test_run_reload_restarts_the_worker_on_a_code_change(tmp_path: Path) -> None:
    module = tmp_path / "reloadapp.py"
    module.write_text(APP)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("TASKRUNNER_URL", "TASKRUNNER_APP")}
    env |= {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "taskrunner", "run", "reloadapp:runner", "--reload"]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=err, stderr=err, preexec_fn=ignoring_sigint
        )
    try:
        wait_for(tmp_path / "ran-1", proc, url, log)
        module.write_text(APP.replace("VERSION = 1", "VERSION = 2  # edited"))
        wait_for(tmp_path / "ran-2", proc, url, log)
        assert "changed: reloadapp.py; restarting the worker" in log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(TIMEOUT) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "Traceback" not in log.read_text()


SLOW_IMPORT = """\
import time
from pathlib import Path

(Path(__file__).resolve().parent / "importing").write_text("")
time.sleep(120)
"""


@pytest.mark.slow
def test_sigint_stops_run_during_startup_though_it_came_in_ignored(tmp_path: Path) -> None:
    # the app's import stands for the startup before the worker's own handler is installed
    (tmp_path / "slowapp.py").write_text(SLOW_IMPORT)
    command = [sys.executable, "-m", "taskrunner", "run", "slowapp:runner"]
    proc = subprocess.Popen(
        command, cwd=tmp_path, stderr=subprocess.PIPE, preexec_fn=ignoring_sigint
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "importing").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.wait(TIMEOUT)  # not the 120 s the import would take if SIGINT were lost
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode != 0


def test_run_reload_without_watchfiles_names_the_extra(tmp_path: Path) -> None:
    hidden = "import sys\nsys.modules['watchfiles'] = None\nfrom taskrunner.cli import main\nmain()"
    done = subprocess.run(
        [sys.executable, "-c", hidden, "run", "tests.apps.burst:runner", "--reload"],
        cwd=REPO, capture_output=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert b"--reload needs watchfiles" in done.stderr and b"[reload]" in done.stderr
