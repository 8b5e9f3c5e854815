"""`taskrunner run --queues a=5,b=20`: per-queue concurrency from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskrunner import ConfigurationError
from taskrunner.cli.run import parse_queues
from tests.test_cli import run_to_error, taskrunner


@pytest.mark.parametrize(
    ("values", "parsed"),
    [
        ([], None),
        (["emails"], ("emails",)),
        (["emails,feeds"], ("emails", "feeds")),
        (["emails", "feeds"], ("emails", "feeds")),
        (["emails=5,feeds=20"], {"emails": 5, "feeds": 20}),
        (["emails=5", " feeds = 20 "], {"emails": 5, "feeds": 20}),
    ],
)
def test_queue_values_parse_as_names_or_limits(values: list[str], parsed: object) -> None:
    assert parse_queues(values) == parsed


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["emails=x"], "must be a whole number, got 'x'"),
        (["emails=-1"], "must be a whole number, got '-1'"),
        (["emails="], "must be a whole number, got ''"),
        (["emails=5,feeds"], "a limit to every queue"),
        (["emails,emails"], "names a queue twice"),
        (["emails=1", "emails=2"], "names queue 'emails' twice"),
        (["emails,,feeds"], "empty queue"),
    ],
)
def test_bad_queue_values_are_refused(values: list[str], expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        parse_queues(values)


@pytest.mark.slow
def test_queue_limits_pick_the_queues_and_the_total(tmp_path: Path) -> None:
    with taskrunner(
        tmp_path, "tests.apps.queues:runner", "--burst", "--queues", "alpha=1,beta=2"
    ) as worker:
        assert worker.exit_code() == 0
        states = worker.states()
        assert states == {"alpha": "succeeded", "beta": "succeeded", "default": "queued"}
        assert "queues alpha=1,beta=2, concurrency 3" in worker.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alpha=0", "the limit of queue 'alpha' must be an int from 1"),
        ("alpha=x", "the limit of queue 'alpha' must be a whole number"),
        ("alpha=1,alpha=2", "names queue 'alpha' twice"),
    ],
)
def test_bad_queue_limits_are_a_one_line_error(tmp_path: Path, value: str, expected: str) -> None:
    assert expected in run_to_error(tmp_path, "tests.apps.queues:runner", "--queues", value)
