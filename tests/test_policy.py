"""The worker's policy functions, tested alone: retry decisions, backoff, TTLs, attempts."""

from __future__ import annotations

import math

import pytest

from taskrunner import Retry
from taskrunner.policy import (
    DEFAULT_FAILED_TTL,
    DEFAULT_RESULT_TTL,
    GIVE_UP,
    MIN_SCHEDULED_RESULT_TTL,
    Policy,
    RetryDecision,
    backend_retry_delay,
    backoff_delay,
    decide,
    max_attempts,
    out_of_attempts,
    past_last_attempt,
    result_ttl,
)
from taskrunner.retry import DEFAULT_BACKOFF, MAX_SECONDS


def ten(attempt: int) -> float:
    return 10.0 * attempt


def test_an_exception_in_retry_on_is_retried_after_the_backoff() -> None:
    assert decide(ValueError(), 2, 4, (ValueError,), ten) == RetryDecision(True, 20.0)


def test_an_exception_outside_retry_on_is_not_retried() -> None:
    assert decide(KeyError(), 1, 4, (ValueError,), ten) is GIVE_UP


def test_no_retry_once_the_last_attempt_failed() -> None:
    assert decide(ValueError(), 4, 4, (ValueError,), ten) is GIVE_UP
    assert decide(Retry(1), 4, 4, (ValueError,), ten) is GIVE_UP


def test_retry_is_retried_whatever_retry_on_says() -> None:
    assert decide(Retry(), 1, 3, (KeyError,), ten) == RetryDecision(True, 10.0)


def test_retry_with_a_delay_overrides_the_backoff() -> None:
    assert decide(Retry(delay=7), 1, 3, (Exception,), ten) == RetryDecision(True, 7.0)


def test_a_base_exception_is_retried_only_when_retry_on_names_it() -> None:
    assert decide(KeyboardInterrupt(), 1, 3, (Exception,), ten) is GIVE_UP
    assert decide(SystemExit(2), 1, 3, (BaseException,), ten).retry


@pytest.mark.parametrize(
    ("answer", "problem"),
    [(-1.0, "returned -1.0"), (math.nan, "returned nan"), (True, "returned True")],
)
def test_a_backoff_answer_out_of_range_falls_back_to_the_default(
    answer: float, problem: str
) -> None:
    delay, said = backoff_delay(lambda attempt: answer, 3)
    assert said == problem
    assert 0 <= delay <= DEFAULT_BACKOFF.max_delay


def test_a_backoff_that_raises_falls_back_to_the_default() -> None:
    def broken(attempt: int) -> float:
        raise RuntimeError("no")

    decision = decide(ValueError(), 1, 2, (ValueError,), broken)
    assert decision.retry and decision.problem == "raised RuntimeError: no"
    assert 0 <= decision.delay <= DEFAULT_BACKOFF.delay(1, lambda: 1.0)


def test_a_backoff_of_at_most_ten_years_is_taken() -> None:
    assert backoff_delay(lambda a: MAX_SECONDS, 1) == (float(MAX_SECONDS), None)
    assert backoff_delay(lambda a: MAX_SECONDS + 1, 1)[1] is not None


def test_attempts() -> None:
    assert max_attempts(0) == 1 and max_attempts(3) == 4
    assert not out_of_attempts(3, 4) and out_of_attempts(4, 4)
    assert not past_last_attempt(4, 4) and past_last_attempt(5, 4)


def test_result_ttl_is_the_tasks_else_the_runners() -> None:
    assert result_ttl(5.0, False, 100.0) == 5.0
    assert result_ttl(None, False, 100.0) == 100.0
    assert result_ttl(None, False, None) is None


def test_a_recurring_tasks_result_ttl_is_at_least_the_minimum() -> None:
    assert result_ttl(None, True, 1.0) == MIN_SCHEDULED_RESULT_TTL
    assert result_ttl(None, True, None) is None  # kept for good: longer still
    assert result_ttl(3600.0, True, 1.0) == 3600.0


def test_the_policy_applies_the_runners_defaults() -> None:
    policy = Policy(ten)
    assert (policy.default_result_ttl, policy.failed_ttl) == (
        DEFAULT_RESULT_TTL,
        DEFAULT_FAILED_TTL,
    )
    assert policy.decide(ValueError(), 1, 2, (ValueError,), None).delay == 10.0
    assert policy.decide(ValueError(), 1, 2, (ValueError,), lambda a: 1.0).delay == 1.0
    assert policy.result_ttl("t", None, False) == DEFAULT_RESULT_TTL
    assert policy.result_ttl("t", 1.0, False) == DEFAULT_RESULT_TTL  # worked out once a task


@pytest.mark.parametrize("failures", [1, 2, 5, 10, 50])
def test_backend_retry_delay_grows_to_at_most_ten_seconds(failures: int) -> None:
    ceiling = min(0.1 * 2 ** min(failures, 10), 10.0)
    assert ceiling / 2 <= backend_retry_delay(failures) <= ceiling
