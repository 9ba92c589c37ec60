"""What Lambda does with an Event invoke that failed (AWS docs, "How Lambda handles errors and retries with
asynchronous invocation"): a function error (its code's, or its runtime's: a timeout, a crash) is retried, by
default twice, a minute after the first attempt and two minutes after the second, with the same request id; fewer
times with EventInvokeConfig's MaximumRetryAttempts, and never once the event would be older than its
MaximumEventAgeInSeconds. Then Lambda discards it (or sends it to an on-failure destination or dead-letter queue,
which lambdatui does not emulate). Pure decisions: the fleet (host/fleet_retries.py) waits and queues the attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Union

from lambdatui.model import facts as f
from lambdatui.model.fleet import MAX_EVENT_AGE_S, MAX_RETRY_ATTEMPTS, RETRY_WAIT_S, FleetOptions


@dataclass(frozen=True)
class RetryPolicy:
    """A function's EventInvokeConfig, as the fleet applies it (FleetOptions)."""

    attempts: int = MAX_RETRY_ATTEMPTS  # retries after the first attempt (MaximumRetryAttempts)
    max_age_s: float = MAX_EVENT_AGE_S  # MaximumEventAgeInSeconds
    first_wait_s: float = RETRY_WAIT_S  # lambdatui's --retry-wait: the n-th retry waits n times this

    @classmethod
    def of(cls, options: FleetOptions) -> RetryPolicy:
        return cls(options.retry_attempts, options.max_event_age_s, options.retry_wait_s)


class Retry(NamedTuple):
    """Run it again after `wait_s`: its `attempt`-th retry."""

    attempt: int
    wait_s: float


class Discard(NamedTuple):
    """No more attempts, and why."""

    reason: str


def expired(policy: RetryPolicy, age_s: float) -> bool:
    """Whether an event `age_s` seconds after it was accepted is too old to run at all (it waited in the queue):
    Lambda discards it without running it."""
    return age_s > policy.max_age_s


def after_attempt(policy: RetryPolicy, result: f.InvocationResult, retries_done: int,
                  age_s: float) -> Optional[Union[Retry, Discard]]:
    """What follows an Event invoke's attempt that ended with `result`, `retries_done` retries in and `age_s`
    seconds after it was accepted: None when it succeeded (nothing follows), else a retry or its discarding."""
    if not result.function_error:
        return None
    if retries_done >= policy.attempts:
        tried = "1 attempt" if retries_done == 0 else f"{retries_done + 1} attempts"
        return Discard(f"{tried} failed (MaximumRetryAttempts {policy.attempts})")
    wait = policy.first_wait_s * (retries_done + 1)
    if age_s + wait > policy.max_age_s:
        return Discard(f"its next attempt would be older than MaximumEventAgeInSeconds ({policy.max_age_s:g} s)")
    return Retry(retries_done + 1, wait)
