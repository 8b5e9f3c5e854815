"""`taskrunner dashboard`: the bind rule, its options, the missing extra, and a real server."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from taskrunner import ConfigurationError
from taskrunner.cli import app
from taskrunner.cli import dashboard as command
from taskrunner.dashboard import dashboard
from taskrunner.dashboard.security import check_bind
from tests.dashboard.conftest import TOKEN, client_for, make_runner
from tests.helpers import free_port

cli = CliRunner()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_auth(host: str) -> None:
    check_bind(host, protected=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com"])
def test_other_addresses_need_auth(host: str) -> None:
    with pytest.raises(ConfigurationError, match="refusing to serve"):
        check_bind(host, protected=False)
    check_bind(host, protected=True)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Stands in for uvicorn: records what would have been served."""
    calls: list[Any] = []

    def fake_serve(config: Any) -> None:
        calls.append(config)

    monkeypatch.setattr(command, "serve", fake_serve)
    monkeypatch.delenv("TASKRUNNER_DASHBOARD_TOKEN", raising=False)
    monkeypatch.delenv("TASKRUNNER_DASHBOARD_PASSWORD", raising=False)
    return calls


def test_refuses_0_0_0_0_without_auth(served: list[Any]) -> None:
    result = cli.invoke(app, ["dashboard", "--url", "memory://", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to serve the dashboard on 0.0.0.0" in result.output
    assert served == []


def test_listens_anywhere_with_a_token(served: list[Any]) -> None:
    args = ["dashboard", "--url", "memory://", "--host", "0.0.0.0", "--port", "9123"]
    result = cli.invoke(app, [*args, "--token", TOKEN])
    assert result.exit_code == 0, result.output
    (config,) = served
    assert (config.host, config.port) == ("0.0.0.0", 9123)
    assert "HTTPS" in result.output


def test_password_from_the_environment(served: list[Any]) -> None:
    env = {"TASKRUNNER_DASHBOARD_PASSWORD": TOKEN}
    result = cli.invoke(app, ["dashboard", "--url", "memory://", "--host", "::"], env=env)
    assert result.exit_code == 0, result.output
    assert served[0].host == "::"


def test_default_is_loopback(served: list[Any]) -> None:
    result = cli.invoke(app, ["dashboard", "--url", "memory://"])
    assert result.exit_code == 0, result.output
    assert (served[0].host, served[0].port) == ("127.0.0.1", 8001)


def test_bad_options(served: list[Any]) -> None:
    both = cli.invoke(
        app, ["dashboard", "--url", "memory://", "--token", TOKEN, "--password", TOKEN]
    )
    assert both.exit_code == 2 and "not both" in both.output
    short = cli.invoke(app, ["dashboard", "--url", "memory://", "--token", "abc"])
    assert short.exit_code == 2 and "8 characters" in short.output
    assert served == []


async def test_secret_and_time_zone_options(
    served: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASKRUNNER_DASHBOARD_SECRET", raising=False)
    short = cli.invoke(app, ["dashboard", "--url", "memory://", "--secret", "abc"])
    assert short.exit_code == 2 and "16 characters" in short.output
    env = {"TASKRUNNER_DASHBOARD_SECRET": "x"}
    from_env = cli.invoke(app, ["dashboard", "--url", "memory://"], env=env)
    assert from_env.exit_code == 2 and "16 characters" in from_env.output
    zone = cli.invoke(app, ["dashboard", "--url", "memory://", "--timezone", "Nowhere/City"])
    assert zone.exit_code == 2 and "unknown time zone" in zone.output
    assert served == []
    args = ["--secret", "a-long-enough-secret", "--timezone", "Europe/Paris"]
    good = cli.invoke(app, ["dashboard", "--url", "memory://", *args])
    assert good.exit_code == 0, good.output
    (config,) = served
    async with client_for(config.app) as client:
        page = await client.get("/")
        assert "times in Europe/Paris" in page.text
        cookie = client.cookies["taskrunner_dashboard"]
    # a process given the same secret takes the session; one with another does not
    for secret, same in (("a-long-enough-secret", True), ("another-long-secret", False)):
        other = dashboard(make_runner(None), secret_key=secret)
        async with client_for(other) as client:
            client.cookies.set("taskrunner_dashboard", cookie)
            answer = await client.get("/")
            assert ("set-cookie" not in answer.headers) is same


def test_says_which_extra_is_missing(served: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = cli.invoke(app, ["dashboard", "--url", "memory://"])
    assert result.exit_code == 2
    assert 'pip install "taskrunner-jobs[dashboard]"' in result.output


BLOCK_EXTRA = """
import sys
class WithoutTheExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"itsdangerous", "jinja2", "starlette", "uvicorn"}:
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, WithoutTheExtra())
from taskrunner.cli import main
sys.argv = ["taskrunner", "dashboard", "--url", "memory://"]
main()
"""


def test_the_cli_loads_without_the_dashboard_extra() -> None:
    """Every command imports the dashboard command's module: it must load without Jinja2,
    itsdangerous or Starlette, and `taskrunner dashboard` say which extra it needs."""
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_EXTRA], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "[dashboard]" in done.stderr and "pip install" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_serves_for_real() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from taskrunner.cli import main; main()", "dashboard",
         "--url", "memory://", "--port", str(port), "--token", TOKEN, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/api/stats",
                    headers={"authorization": f"Bearer {TOKEN}"},
                )
                break
            except httpx.ConnectError:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.1)
        assert response.status_code == 200 and response.json()["backend"] == "memory://"
        refused = httpx.get(f"http://127.0.0.1:{port}/")
        assert refused.status_code == 303
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()  # uvicorn re-raises it
