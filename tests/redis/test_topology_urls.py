"""Redis Cluster and Sentinel URLs: what they say, and clear errors for what they cannot."""

from __future__ import annotations

import pytest

from taskrunner import BackendError, ConfigurationError, JobState, TaskRunner
from taskrunner.testing import new_job
from taskrunner_redis import RedisBackend
from taskrunner_redis.settings import parse_url
from tests.helpers import free_port


def test_a_cluster_url_lists_its_nodes_and_options() -> None:
    settings = parse_url(
        "redis+cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002/0"
        "?prefix=myapp&socket_timeout=5&max_connections=20"
    )
    assert settings.topology == "cluster"
    assert settings.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert (settings.username, settings.password) == ("app", "p@ss")
    assert settings.prefix == "myapp"
    assert settings.options == {"socket_timeout": 5.0, "max_connections": 20}
    assert not settings.tls and parse_url("rediss+cluster://node:7000").tls
    assert "p%40ss" not in settings.url and "p@ss" not in repr(settings)


def test_a_sentinel_url_names_the_service_and_the_database() -> None:
    settings = parse_url("redis+sentinel://:secret@s1:26379,s2,s3:26381/mymaster/2")
    assert settings.topology == "sentinel"
    assert settings.nodes == (("s1", 26379), ("s2", 26379), ("s3", 26381))
    assert (settings.service, settings.db, settings.password) == ("mymaster", 2, "secret")
    assert parse_url("rediss+sentinel://s1/mymaster").db == 0
    assert parse_url("rediss+sentinel://s1/mymaster").tls


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://a:7000,b:99999", "'b:99999' where a cluster node belongs"),
        ("redis+cluster://a:7000,,b:7001", "'' where a cluster node belongs"),
        ("redis+cluster://a:7000/3", "a cluster has only database 0"),
        ("redis+cluster://a:7000?decode_responses=1", "unknown option 'decode_responses'"),
        ("redis+cluster://a:7000?socket_timeout=soon", "socket_timeout='soon' .* a float"),
        ("redis+sentinel://s1:26379", "must name the service"),
        ("redis+sentinel://s1:26379/mymaster/x", "the database is a number"),
        ("redis+sentinel://s1:26379/a/1/2", "must name the service"),
        ("redis+sentinel://s1:port/mymaster", "'s1:port' where a sentinel belongs"),
        ("redis+cluster://a:7000?prefix=a b", "key prefix"),
    ],
)
def test_bad_cluster_and_sentinel_urls_are_clear_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_url(url)


def test_the_schemes_pick_the_redis_backend_and_hide_the_password() -> None:
    for url in (
        "redis+cluster://:hunter2@127.0.0.1:7000,127.0.0.1:7001",
        "rediss+cluster://:hunter2@127.0.0.1:7000",
        "redis+sentinel://:hunter2@127.0.0.1:26379/mymaster",
        "rediss+sentinel://:hunter2@127.0.0.1:26379/mymaster/1",
    ):
        runner = TaskRunner(url)
        assert isinstance(runner.backend, RedisBackend)
        assert "hunter2" not in repr(runner.backend)


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://:hunter2@127.0.0.1:{port}",
        "redis+sentinel://:hunter2@127.0.0.1:{port}/mymaster",
    ],
)
async def test_nothing_listening_is_a_clear_error_without_the_password(url: str) -> None:
    backend = RedisBackend(url.format(port=free_port()) + "?socket_connect_timeout=1")
    with pytest.raises(BackendError, match=r"Redis at redis\+\w+://:\*\*\*@127.0.0.1") as failed:
        await backend.connect()
    assert "hunter2" not in str(failed.value)


def test_wait_replicas_options() -> None:
    settings = parse_url("redis://cache/0?wait_replicas=1&wait_timeout=0.25&socket_timeout=5")
    assert (settings.wait_replicas, settings.wait_timeout) == (1, 0.25)
    assert settings.url == "redis://cache/0?socket_timeout=5"  # not passed to redis-py
    assert parse_url("redis+sentinel://s1/mymaster?wait_replicas=2").wait_replicas == 2
    assert parse_url("redis://cache").wait_replicas == 0
    for bad in ("wait_replicas=-1", "wait_replicas=one", "wait_timeout=-2", "wait_timeout=inf"):
        with pytest.raises(ConfigurationError, match=bad.split("=")[0] + ".* 0 or more"):
            parse_url(f"redis://cache/0?{bad}")
    assert parse_url("redis+cluster://a:7000?wait_replicas=1").wait_replicas == 1


async def test_a_redis_without_replicas_warns_and_keeps_the_job(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RedisBackend(f"{redis_url}&wait_replicas=1&wait_timeout=0.01")
    await backend.connect()
    try:
        (job_id,) = await backend.enqueue([new_job()])
        (record,) = await backend.get([job_id])
        assert record is not None and record.state is JobState.QUEUED
        assert "only 0 of the 1 replicas asked for" in caplog.text
    finally:
        await backend.close()
