"""A failed Event invoke's next attempt, as Lambda decides it (core/event_retries.py): a function error is retried
twice by default, a minute and then two after each failure; fewer with MaximumRetryAttempts; never past
MaximumEventAgeInSeconds; a success ends it."""

from __future__ import annotations

from lambdatui.core.event_retries import Discard, Retry, RetryPolicy, after_attempt, expired
from lambdatui.model import facts as f
from lambdatui.model.fleet import FleetOptions

FAILED = f.InvocationResult("id", b'{"errorType": "RuntimeError"}', function_error=True, error_type="RuntimeError")
SUCCEEDED = f.InvocationResult("id", b'"ok"')


def test_lambda_s_defaults_retry_twice_after_one_then_two_minutes() -> None:
    policy = RetryPolicy.of(FleetOptions())
    assert after_attempt(policy, FAILED, 0, 0.0) == Retry(1, 60.0)
    assert after_attempt(policy, FAILED, 1, 60.1) == Retry(2, 120.0)
    discarded = after_attempt(policy, FAILED, 2, 180.3)
    assert isinstance(discarded, Discard) and "3 attempts failed (MaximumRetryAttempts 2)" in discarded.reason


def test_a_success_ends_it_at_any_attempt() -> None:
    assert after_attempt(RetryPolicy(), SUCCEEDED, 0, 0.0) is None
    assert after_attempt(RetryPolicy(), SUCCEEDED, 2, 180.0) is None


def test_no_retry_with_maximum_retry_attempts_0() -> None:
    discarded = after_attempt(RetryPolicy(attempts=0), FAILED, 0, 0.0)
    assert isinstance(discarded, Discard) and discarded.reason.startswith("1 attempt failed")


def test_an_event_that_would_be_too_old_by_its_next_attempt_is_discarded() -> None:
    policy = RetryPolicy(max_age_s=100)
    assert after_attempt(policy, FAILED, 0, 30.0) == Retry(1, 60.0)
    discarded = after_attempt(policy, FAILED, 1, 95.0)  # 95 + 120 > 100
    assert isinstance(discarded, Discard) and "MaximumEventAgeInSeconds (100 s)" in discarded.reason


def test_an_event_is_expired_only_past_its_maximum_age() -> None:
    assert not expired(RetryPolicy(max_age_s=60), 60.0)
    assert expired(RetryPolicy(max_age_s=60), 60.5)


def test_the_wait_scales_with_retry_wait() -> None:
    policy = RetryPolicy.of(FleetOptions(retry_wait_s=0.5))
    assert after_attempt(policy, FAILED, 0, 0.0) == Retry(1, 0.5)
    assert after_attempt(policy, FAILED, 1, 0.6) == Retry(2, 1.0)
