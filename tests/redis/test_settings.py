"""URL options, key layout and TLS of the Redis backend."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from taskrunner import BackendError, ConfigurationError, TaskRunner
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.settings import parse_url
from tests.helpers import free_port
from tests.redis.conftest import REDIS_URL


def test_url_options() -> None:
    settings = parse_url("redis://:pw@cache:6380/3?prefix=myapp&socket_timeout=5")
    assert settings.prefix == "myapp"
    assert settings.url == "redis://:pw@cache:6380/3?socket_timeout=5"
    assert parse_url("rediss://cache").prefix == "taskrunner"
    with pytest.raises(ConfigurationError, match="key prefix"):
        parse_url("redis://cache?prefix=a b")
    with pytest.raises(ConfigurationError, match=r"redis://, rediss://, redis\+cluster://"):
        parse_url("http://cache")


def test_the_url_picks_the_redis_backend_and_hides_the_password() -> None:
    runner = TaskRunner("redis://:hunter2@127.0.0.1:6379/0")
    assert isinstance(runner.backend, RedisBackend)
    assert "hunter2" not in repr(runner) and "hunter2" not in repr(runner.backend)


async def test_an_unreachable_redis_is_a_clear_error_without_the_password() -> None:
    backend = RedisBackend(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    with pytest.raises(BackendError, match=r"Redis at redis://:\*\*\*@127.0.0.1") as failed:
        await backend.connect()
    assert "hunter2" not in str(failed.value)


async def test_every_key_of_a_queue_shares_its_hash_tag(
    redis_backend: RedisBackend, redis_prefix: str
) -> None:
    await redis_backend.enqueue([new_job(queue="feeds"), new_job(queue="feeds", delay=60)])
    (claimed,) = await redis_backend.claim(["feeds"], 1, "w", 30)
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}:*")]
    finally:
        await client.aclose()
    queue_keys = [k for k in keys if k != f"{redis_prefix}:queues"]
    assert all(k.startswith(f"{redis_prefix}:{{feeds}}:") for k in queue_keys), keys
    assert f"{redis_prefix}:{{feeds}}:job:{claimed.id}" in keys


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A redis-server on a TLS port, its certificate signed by a CA of the test's own."""
    if shutil.which("openssl") is None or shutil.which("redis-server") is None:
        pytest.skip("openssl and redis-server are needed for the TLS test")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=taskrunner-test-ca",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    )
    (tmp_path / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "ext",
    )
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.crt",
            "--tls-auth-clients",
            "no",
            "--save",
            "",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "--tls", "--cacert", "ca.crt", "ping"],
                cwd=tmp_path,
                capture_output=True,
            ).stdout
            != b"PONG\n"
        ):
            assert time.monotonic() < deadline, "the TLS redis-server did not start"
            time.sleep(0.05)
        yield port, tmp_path / "ca.crt"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


async def test_rediss_verifies_the_server_certificate(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    trusted = RedisBackend(f"rediss://localhost:{port}/0?ssl_ca_certs={ca}")
    await trusted.connect()
    try:
        job = new_job()
        assert await trusted.enqueue([job]) == [job.id]
    finally:
        await trusted.close()
    # without our CA the certificate cannot be verified, and by default that is fatal
    untrusted = RedisBackend(f"rediss://localhost:{port}/0")
    with pytest.raises(BackendError, match="certificate verify failed"):
        await untrusted.connect()


async def test_more_concurrent_calls_than_connections_wait_their_turn(redis_url: str) -> None:
    import asyncio

    backend = RedisBackend(f"{redis_url}&max_connections=5")
    await backend.connect()
    try:
        jobs = [new_job() for _ in range(300)]
        ids = await asyncio.gather(*(backend.enqueue([job]) for job in jobs))
        assert [i[0] for i in ids] == [job.id for job in jobs]
    finally:
        await backend.close()


async def test_a_blocking_wait_ends_before_the_socket_times_out(redis_url: str) -> None:
    from taskrunner_redis.clients import SOCKET_TIMEOUT
    from taskrunner_redis.waiting import LONGEST_BLOCK

    backend = RedisBackend(redis_url)
    await backend.connect()
    try:
        assert isinstance(backend._client, aioredis.Redis)
        kwargs = backend._client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == SOCKET_TIMEOUT > LONGEST_BLOCK + 5
        await backend.wait(["idle-queue"], 0.2)  # returns on its timeout, without an error
    finally:
        await backend.close()
    custom = RedisBackend(f"{redis_url}&socket_timeout=60")
    await custom.connect()
    try:
        assert isinstance(custom._client, aioredis.Redis)
        assert custom._client.connection_pool.connection_kwargs["socket_timeout"] == 60
    finally:
        await custom.close()
