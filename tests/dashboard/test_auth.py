"""Who gets in: login form, bearer token, signed cookie, local-only mode without auth."""

from __future__ import annotations

import time

import httpx
import pytest

from taskrunner import ConfigurationError
from taskrunner.dashboard import dashboard
from taskrunner.dashboard.security import (
    LOGIN_FAILURE_WINDOW,
    LOGIN_FAILURES_ALLOWED,
    SECRET_ENV,
    THROTTLED_FAILURE_DELAY,
)
from tests.dashboard.conftest import (
    ORIGIN,
    TOKEN,
    Seeded,
    client_for,
    csrf_of,
    log_in,
    make_runner,
)


async def test_every_page_needs_auth(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        pages = (
            "/",
            "/jobs?state=failed",
            f"/jobs/{seeded.failed}",
            "/schedules",
            "/batches",
            "/batches/some-batch",
            "/queues/default",
            "/jobs?text=x&id=01",
        )
        for path in pages:
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login")
            assert seeded.failed not in response.text
        job_page = await client.get(f"/jobs/{seeded.failed}")
        assert job_page.headers["location"] == f"/login?next=%2Fjobs%2F{seeded.failed}"
        for path in ("/api/stats", f"/api/jobs/{seeded.failed}", "/api/jobs",
                     "/api/queues/default", "/api/batches/some-batch"):  # fmt: skip
            response = await client.get(path)
            assert response.status_code == 401, path
            assert "queues" not in response.text and seeded.failed not in response.text
        assert (await client.get("/static/dashboard.js")).status_code == 401
        login = await client.get("/login")
        assert login.status_code == 200 and 'type="password"' in login.text
        assert (await client.get("/static/dashboard.css")).status_code == 200  # for the form


async def test_bearer_token(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        wrong = await client.get("/api/stats", headers={"authorization": "Bearer nope-nope"})
        assert wrong.status_code == 401
        page = await client.get("/", headers={"authorization": f"Bearer {TOKEN}x"})
        assert page.status_code == 401
        right = await client.get("/api/stats", headers={"authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        assert "default" in right.json()["queues"]
        job = await client.get(
            f"/api/jobs/{seeded.failed}", headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert job.json()["state"] == "failed"
        assert "set-cookie" not in right.headers


async def test_login_form_sets_a_strict_httponly_cookie(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, password=TOKEN)
    async with client_for(app) as client:
        wrong = await client.post(
            "/login", data={"password": "guess-guess"}, headers={"origin": ORIGIN}
        )
        assert wrong.status_code == 401
        assert "set-cookie" not in wrong.headers
        assert "Wrong password or token" in wrong.text
        right = await client.post(
            "/login",
            data={"password": TOKEN, "next": f"/jobs/{seeded.failed}"},
            headers={"origin": ORIGIN},
        )
        assert right.status_code == 303
        assert right.headers["location"] == f"/jobs/{seeded.failed}"
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert TOKEN.lower() not in cookie
        page = await client.get(f"/jobs/{seeded.failed}")
        assert page.status_code == 200 and "ValueError" in page.text


async def test_login_goes_back_only_inside_the_dashboard(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            response = await client.post(
                "/login", data={"password": TOKEN, "next": target}, headers={"origin": ORIGIN}
            )
            assert response.headers["location"] == "/", target


async def test_tampered_or_foreign_cookies_are_refused(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    other = dashboard(seeded.runner, token=TOKEN)  # another key: its cookies mean nothing here
    async with client_for(app) as client, client_for(other) as stranger:
        await log_in(stranger)
        foreign = stranger.cookies["taskrunner_dashboard"]
        for value in (foreign, foreign[:-2] + "xx", "abc.123.def", ""):
            client.cookies.set("taskrunner_dashboard", value)
            response = await client.get("/")
            assert response.status_code == 303, value
            assert response.headers["location"] == "/login"


SECRET = "shared-secret-of-the-fleet"


async def test_dashboards_sharing_a_secret_share_logins(seeded: Seeded) -> None:
    """Behind a load balancer: a login on one process is good on another with the same key,
    and so is the CSRF token its pages carry; one with another key refuses both."""
    first = dashboard(seeded.runner, token=TOKEN, secret_key=SECRET)
    second = dashboard(seeded.runner, token=TOKEN, secret_key=SECRET)
    stranger = dashboard(seeded.runner, token=TOKEN, secret_key=SECRET + "-other")
    async with client_for(first) as one, client_for(second) as two, client_for(stranger) as x:
        await log_in(one)
        cookie = one.cookies["taskrunner_dashboard"]
        csrf = csrf_of((await one.get(f"/jobs/{seeded.failed}")).text)
        two.cookies.set("taskrunner_dashboard", cookie)
        assert (await two.get(f"/jobs/{seeded.failed}")).status_code == 200
        retried = await two.post(
            f"/jobs/{seeded.failed}/retry", data={"csrf": csrf}, headers={"origin": ORIGIN}
        )
        assert retried.status_code == 303
        assert (await seeded.runner.get_job(seeded.failed)).state.value == "queued"
        x.cookies.set("taskrunner_dashboard", cookie)
        assert (await x.get("/")).headers["location"] == "/login"


async def test_the_secret_comes_from_the_environment(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    first, second = dashboard(seeded.runner, token=TOKEN), dashboard(seeded.runner, token=TOKEN)
    async with client_for(first) as one, client_for(second) as two:
        await log_in(one)
        two.cookies.set("taskrunner_dashboard", one.cookies["taskrunner_dashboard"])
        assert (await two.get("/")).status_code == 200
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(ConfigurationError, match="16 characters"):
        dashboard(seeded.runner, token=TOKEN)


async def test_login_from_another_site_is_refused(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        response = await client.post(
            "/login", data={"password": TOKEN}, headers={"origin": "http://evil.example"}
        )
        assert response.status_code == 403
        assert "set-cookie" not in response.headers


async def wrong_login(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/login", data={"password": "wrong-wrong"}, headers={"origin": ORIGIN})


async def test_repeated_wrong_passwords_are_slowed_down_but_the_right_one_gets_in() -> None:
    """Everyone behind one proxy shares its address: a guesser there must not lock out the
    others, and their logins must not give the guesser a fresh allowance."""
    app = dashboard(make_runner(None), password=TOKEN)
    async with client_for(app) as guesser, client_for(app) as colleague:
        for _ in range(LOGIN_FAILURES_ALLOWED - 1):
            assert (await wrong_login(guesser)).status_code == 401
        started = time.monotonic()
        throttled = await wrong_login(guesser)
        assert time.monotonic() - started >= THROTTLED_FAILURE_DELAY  # answered late
        assert throttled.status_code == 429
        assert 0 < int(throttled.headers["retry-after"]) <= LOGIN_FAILURE_WINDOW
        assert "set-cookie" not in throttled.headers
        await log_in(colleague)  # same address, right password: in at once
        assert (await colleague.get("/")).status_code == 200
        # the colleague's login reset nothing: the guesser is still throttled
        assert (await wrong_login(guesser)).status_code == 429
    async with client_for(app, client=("127.0.0.2", 1)) as elsewhere:
        assert (await wrong_login(elsewhere)).status_code == 401  # another address


async def test_wrong_bearer_tokens_count_and_the_right_one_always_gets_in() -> None:
    app = dashboard(make_runner(None), token=TOKEN)
    wrong = {"authorization": "Bearer not-the-token"}
    right = {"authorization": f"Bearer {TOKEN}"}
    async with client_for(app) as client:
        for _ in range(LOGIN_FAILURES_ALLOWED - 1):
            assert (await client.get("/api/stats", headers=wrong)).status_code == 401
        throttled = await client.get("/api/stats", headers=wrong)
        assert throttled.status_code == 429 and "retry-after" in throttled.headers
        assert "queues" not in throttled.text
        assert (await wrong_login(client)).status_code == 429  # one count per address
        assert (await client.get("/api/stats", headers=right)).status_code == 200
        assert (await client.get("/", headers=right)).status_code == 200
        await log_in(client)


async def test_without_auth_only_local_requests_are_answered(seeded: Seeded) -> None:
    app = dashboard(seeded.runner)
    for base in ("http://127.0.0.1:8001", "http://localhost:8001", "http://[::1]:8001"):
        async with client_for(app, base) as client:
            assert (await client.get("/")).status_code == 200, base
    # DNS rebinding: a site whose name points at 127.0.0.1 sends its own Host
    async with client_for(app, "http://evil.example:8001") as client:
        response = await client.get(f"/jobs/{seeded.failed}")
        assert response.status_code == 403
        assert seeded.failed not in response.text
        assert (await client.get("/api/stats")).status_code == 403
    async with client_for(app, client=("192.168.1.20", 50000)) as client:
        assert (await client.get("/")).status_code == 403


def test_settings_are_checked() -> None:
    runner = make_runner(None)
    with pytest.raises(ConfigurationError, match="not both"):
        dashboard(runner, token=TOKEN, password=TOKEN)
    with pytest.raises(ConfigurationError, match="8 characters"):
        dashboard(runner, token="short")
    with pytest.raises(ConfigurationError, match="secret key needs 16 characters"):
        dashboard(runner, token=TOKEN, secret_key="too-short")
    with pytest.raises(ConfigurationError, match="unknown time zone 'Mars/Olympus'"):
        dashboard(runner, token=TOKEN, timezone="Mars/Olympus")


async def test_security_headers(seeded: Seeded) -> None:
    app = dashboard(seeded.runner, token=TOKEN)
    async with client_for(app) as client:
        await log_in(client)
        response = await client.get("/")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
