"""SQLite URLs as SQLAlchemy reads them, their options, and what the backend refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from taskrunner import TaskRunner
from taskrunner.backend import load_backend
from taskrunner.errors import ConfigurationError
from taskrunner_sqlite import SqliteBackend, SqliteSettings
from taskrunner_sqlite.settings import file_system_of, parse_url, refuse_network_file_system


def test_three_slashes_are_relative_and_four_absolute() -> None:
    path, _ = parse_url("sqlite:///data/jobs.db")
    assert path == Path(os.getcwd()) / "data" / "jobs.db"
    path, _ = parse_url("sqlite:////srv/app/jobs.db")
    assert path == Path("/srv/app/jobs.db")


def test_options_come_from_the_query_string() -> None:
    _, settings = parse_url(
        "sqlite:////srv/jobs.db?busy_timeout=2.5&synchronous=NORMAL&poll=0.05&migrate=off"
    )
    assert settings == SqliteSettings(
        busy_timeout=2.5, synchronous="normal", poll=0.05, migrate=False
    )
    assert parse_url("sqlite:////srv/jobs.db")[1] == SqliteSettings()


def test_an_idle_process_looks_for_other_processes_writes_every_2_ms() -> None:
    # half the pickup latency of a job enqueued by another process is this poll's
    assert SqliteSettings().poll == 0.002


def test_a_percent_encoded_path_is_decoded() -> None:
    assert parse_url("sqlite:////srv/my%20jobs.db")[0] == Path("/srv/my jobs.db")


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:///file::memory:?cache=shared",
     "sqlite:////srv/jobs.db?mode=memory"],
)  # fmt: skip
def test_an_in_memory_database_is_refused_for_memory_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="memory://"):
        parse_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/jobs.db", "names a host"),
        ("sqlite:////srv/jobs.db?timeout=3", "unknown option 'timeout'"),
        ("sqlite:////srv/jobs.db?busy_timeout=soon", "must be a number"),
        ("sqlite:////srv/jobs.db?busy_timeout=0", "busy_timeout must be"),
        ("sqlite:////srv/jobs.db?poll=-1", "poll must be"),
        ("sqlite:////srv/jobs.db?synchronous=off", "synchronous='off' is not allowed"),
        ("sqlite:////srv/jobs.db?migrate=perhaps", "must be true or false"),
        ("postgresql:///srv/jobs.db", "takes sqlite:// URLs"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SqliteBackend(url)


MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
nas:/export /mnt/nas nfs4 rw,relatime 0 0
//files/share /mnt/my\\040share cifs rw 0 0
tmpfs /mnt/nas/tmp tmpfs rw 0 0
"""


def test_the_file_system_is_that_of_the_longest_mount_point() -> None:
    assert file_system_of(Path("/srv/app"), MOUNTS) == "ext4"
    assert file_system_of(Path("/mnt/nas/app"), MOUNTS) == "nfs4"
    assert file_system_of(Path("/mnt/nas/tmp/app"), MOUNTS) == "tmpfs"
    assert file_system_of(Path("/mnt/my share/x"), MOUNTS) == "cifs"
    assert file_system_of(Path("/mnt/nasty"), MOUNTS) == "ext4"


def test_a_file_on_a_network_file_system_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"network file system \(nfs4\)"):
        refuse_network_file_system(Path("/mnt/nas/app/jobs.db"), MOUNTS)
    refuse_network_file_system(Path("/mnt/nas/tmp/jobs.db"), MOUNTS)  # a local tmpfs


async def test_a_missing_folder_is_refused_at_connect(tmp_path: Path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path / 'nowhere' / 'jobs.db'}")
    with pytest.raises(ConfigurationError, match="does not exist"):
        await backend.connect()


def test_the_entry_point_serves_sqlite_urls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    backend = load_backend(url)
    assert isinstance(backend, SqliteBackend) and backend.url == url
    assert TaskRunner(url).backend.__class__ is SqliteBackend
