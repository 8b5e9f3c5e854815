"""examples/flask_app.py end to end: the sync Flask app enqueues with `enqueue_sync` and reads
jobs with `get_job_sync` (driven by Flask's test client, in this test's thread), a real worker
process started as the module's docstring says (`taskrunner run examples.flask_app:runner`)
checks the links, and the check's page shows how far it got, then the result. On Redis and
Postgres; and once with the app in a real server process too (`flask run`), taking requests
from several threads at once. The plain script of docs/sync.md runs against the same worker."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from examples import flask_app
from tests.examples.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    REPO,
    LocalServer,
    free_port,
    shell_env,
    spawn,
    without_uv_run,
)
from tests.examples.markdown_blocks import code_blocks

WAIT = 30.0  # seconds a check may take on a loaded machine before the test gives up
HTML = "text/html; charset=utf-8"


def documented_commands() -> list[str]:
    """The module docstring's `uv run ...` lines: the worker's, then the web server's."""
    assert flask_app.__doc__ is not None
    lines = [line.strip() for line in flask_app.__doc__.splitlines()]
    return [line for line in lines if line.startswith("uv run ")]


def test_the_docstring_runs_a_worker_process_and_the_flask_server() -> None:
    assert documented_commands() == [
        "uv run taskrunner run examples.flask_app:runner",
        "uv run flask --app examples.flask_app run",
    ]


@dataclass
class Process:
    """A process of the example, its output in a log file."""

    proc: subprocess.Popen[bytes]
    log: Path

    def check_alive(self) -> None:
        assert self.proc.poll() is None, f"{self.log.name} exited:\n{self.log.read_text()}"


@contextmanager
def example_process(command: str, url: str, tmp_path: Path, name: str) -> Iterator[Process]:
    """Run a documented command line of the example from the repository's root, against the
    backend at `url`; killed on the way out."""
    log = tmp_path / f"{name}.log"
    env = shell_env(TASKRUNNER_URL=url)
    with spawn(without_uv_run(command), REPO, env, log) as proc:
        yield Process(proc, log)


@pytest.fixture(params=["redis", "postgres"])
def backend_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        return f"{REDIS_URL}?prefix={request.getfixturevalue('redis_prefix')}"
    return f"{POSTGRES_URL}?schema={request.getfixturevalue('pg_schema')}"


@pytest.fixture
def worker(backend_url: str, tmp_path: Path) -> Iterator[Process]:
    with example_process(documented_commands()[0], backend_url, tmp_path, "worker") as proc:
        yield proc


@pytest.fixture
def client(backend_url: str) -> Iterator[FlaskClient]:
    """Flask's test client, its runner on the test's backend; the runner's own loop (which
    its first blocking call starts) is closed afterwards, so the next test can repoint it."""
    flask_app.runner.use_url(backend_url)
    try:
        yield flask_app.app.test_client()
    finally:
        flask_app.runner.close_sync()


def check_status(
    client: FlaskClient, job_id: str, until: Callable[[dict[str, Any]], bool], worker: Process
) -> dict[str, Any]:
    """GET the check's JSON until `until` holds for it."""
    deadline = time.monotonic() + WAIT
    while True:
        answer = client.get(f"/api/checks/{job_id}")
        assert answer.status_code == 200, answer.text
        status: dict[str, Any] = answer.get_json()
        if until(status):
            return status
        worker.check_alive()
        assert time.monotonic() < deadline, f"still {status} after {WAIT} s"
        time.sleep(0.05)


def finished(status: dict[str, Any]) -> bool:
    return bool(status["finished"])


def submit(client: FlaskClient, url: str) -> str:
    """Post the form as a browser does; answers the check's job id."""
    posted = client.post("/checks", data={"url": url})
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"]
    assert location.startswith("/checks/")
    return location.removeprefix("/checks/")


def a_page(local_server: LocalServer, dead_link: str, hold: threading.Event) -> str:
    """A page of six links: two to one page that answers, one that is gone, one to a port
    nobody listens on, one that holds its answer until `hold` is set; and three that are
    not checked (a mail address, the page itself and a link to its own anchor)."""
    local_server.add("/about.html", b"<p>about us</p>", HTML)
    local_server.add("/slow.html", b"<p>slow</p>", HTML, hold=hold)
    body = f"""<!doctype html><html><head><title> Our
      links </title></head><body>
      <a href="/about.html">About</a> <a href="about.html#team">The team</a>
      <a href="/gone.html">Gone</a> <a href="{dead_link}">Dead</a>
      <a href="mailto:someone@example.com">Mail</a> <a href="#top">Top</a>
      <a href="index.html">Here</a> <a href="/slow.html">Slow</a>
    </body></html>"""
    return local_server.add("/index.html", body.encode(), HTML)


@pytest.mark.slow
def test_a_worker_process_checks_the_page_the_form_posted(
    local_server: LocalServer, worker: Process, client: FlaskClient
) -> None:
    hold = threading.Event()
    dead = f"http://127.0.0.1:{free_port()}/"
    url = a_page(local_server, dead, hold)
    assert b'<form method="post" action="/checks">' in client.get("/").data

    job_id = submit(client, url)
    # the fourth link holds its answer: the page shows the three checked so far
    status = check_status(client, job_id, lambda s: (s["progress"] or {}).get("done") == 3, worker)
    assert (status["state"], status["progress"]) == ("running", {"done": 3, "total": 4})
    shown = client.get(f"/checks/{job_id}").text
    assert 'http-equiv="refresh"' in shown
    assert "Checking " + url + ": running, 3 of\n4 links checked." in shown

    hold.set()
    status = check_status(client, job_id, finished, worker)
    assert (status["state"], status["attempt"], status["error"]) == ("succeeded", 1, None)
    result = status["result"]
    assert (result["title"], result["broken"], result["left_out"]) == ("Our links", 2, 0)
    links = {link["url"]: link for link in result["links"]}
    assert list(links) == [local_server.url(p) for p in ("/about.html", "/gone.html")] + [
        dead,
        local_server.url("/slow.html"),
    ]
    assert [link["status"] for link in links.values()] == [200, 404, None, 200]
    assert links[dead]["error"].startswith("ConnectError: ")
    assert local_server.routes["/about.html"].requests == 1  # linked twice, checked once

    shown = client.get(f"/checks/{job_id}").text
    assert 'http-equiv="refresh"' not in shown
    assert "<h2>Our links</h2>" in shown
    assert "4 links on" in shown and "2 broken." in shown
    gone = local_server.url("/gone.html")
    assert f'<tr class="broken"><td><a href="{gone}">{gone}</a></td>\n<td>404</td></tr>' in shown


@pytest.mark.slow
@pytest.mark.parametrize("backend_url", ["redis"], indirect=True)
def test_pages_that_fail_and_a_page_that_recovers(
    local_server: LocalServer, worker: Process, client: FlaskClient
) -> None:
    flaky = local_server.add("/flaky.html", b'<a href="/flaky.html#x">me</a>', HTML, fail_first=1)
    text = local_server.add("/notes.txt", b"no links here", "text/plain")
    missing = local_server.url("/missing.html")
    jobs = {url: submit(client, url) for url in (flaky, text, missing)}
    done = {url: check_status(client, job, finished, worker) for url, job in jobs.items()}

    # the 503 was retried (after the default backoff: under a second) and the retry worked
    assert (done[flaky]["state"], done[flaky]["attempt"]) == ("succeeded", 2)
    assert done[flaky]["result"]["links"] == []  # it only links to itself
    for url, error in [
        (text, f"examples.flask_app.NotAPage: {text} is text/plain, not an HTML page"),
        (missing, f"examples.flask_app.PageMissing: {missing} answered 404 Not Found"),
    ]:
        assert (done[url]["state"], done[url]["attempt"]) == ("failed", 1)  # not retried
        assert done[url]["error"] == error
        shown = client.get(f"/checks/{jobs[url]}").text
        assert "failed after 1 attempt(s)" in shown
        assert 'http-equiv="refresh"' not in shown


@pytest.mark.parametrize("backend_url", ["redis"], indirect=True)
def test_bad_input_is_refused(client: FlaskClient) -> None:
    assert client.post("/checks", data={"url": "file:///etc/passwd"}).status_code == 400
    assert client.post("/checks", data={"url": "http://"}).status_code == 400
    assert client.get("/checks/no-such-job").status_code == 404
    assert client.get("/api/checks/no-such-job").status_code == 404


@pytest.mark.slow
def test_the_flask_server_takes_checks_from_many_threads_at_once(
    local_server: LocalServer, redis_prefix: str, tmp_path: Path
) -> None:
    """The documented commands, both as processes: Flask's server answers each request in
    a thread of its own, and they all enqueue through the runner's one loop and pool."""
    url = f"{REDIS_URL}?prefix={redis_prefix}"
    port = free_port()
    worker_line, web_line = documented_commands()
    pages = [local_server.add(f"/{n}.html", b'<a href="/">home</a>', HTML) for n in range(8)]
    local_server.add("/", b"home", HTML)
    with (
        example_process(worker_line, url, tmp_path, "worker") as worker,
        example_process(f"{web_line} --port {port}", url, tmp_path, "web") as web,
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        wait_until_serving(http, web)
        job_ids: dict[str, str] = {}

        def check(page: str) -> None:
            posted = http.post("/checks", data={"url": page})
            job_ids[page] = posted.headers["location"].removeprefix("/checks/")

        threads = [threading.Thread(target=check, args=(page,)) for page in pages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert sorted(job_ids) == sorted(pages)
        deadline = time.monotonic() + WAIT
        for page, job_id in job_ids.items():
            while not (status := http.get(f"/api/checks/{job_id}").json())["finished"]:
                worker.check_alive()
                web.check_alive()
                assert time.monotonic() < deadline, status
                time.sleep(0.05)
            assert status["result"]["links"] == [
                {"url": local_server.url("/"), "status": 200, "ok": True, "error": None}
            ], page


def wait_until_serving(http: httpx.Client, web: Process) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            http.get("/")
            return
        except httpx.TransportError:
            web.check_alive()
            assert time.monotonic() < deadline, web.log.read_text()
            time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("backend_url", ["redis"], indirect=True)
def test_the_plain_script_of_the_sync_page_prints_the_broken_links(
    local_server: LocalServer, backend_url: str, worker: Process, tmp_path: Path
) -> None:
    (block,) = [b for b in code_blocks(REPO / "docs" / "sync.md") if "def main(urls" in b.body]
    script = tmp_path / "check_pages.py"
    script.write_text(block.body)
    local_server.add("/fine.html", b"fine", HTML)
    fine = local_server.add("/a.html", b'<a href="/fine.html">fine</a>', HTML)
    gone = local_server.url("/gone.html")
    broken = local_server.add("/b.html", b'<a href="/gone.html">gone</a>', HTML)
    missing = local_server.url("/missing.html")

    def run(*urls: str) -> subprocess.CompletedProcess[str]:
        env = shell_env(TASKRUNNER_URL=backend_url, PYTHONPATH=str(REPO))
        done = subprocess.run(
            [sys.executable, str(script), *urls],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=2 * WAIT,
        )
        worker.check_alive()
        return done

    alright = run(fine)
    assert (alright.returncode, alright.stdout) == (0, ""), alright.stderr
    done = run(fine, broken, missing)
    assert done.returncode == 1, done.stderr
    printed = done.stdout.splitlines()
    assert printed[0] == f"{broken}: {gone} is broken (404)"
    assert printed[1].startswith(f"{missing}: not checked: job ")
    assert printed[1].endswith(
        f"failed: examples.flask_app.PageMissing: {missing} answered 404 Not Found"
    )
    assert len(printed) == 2
