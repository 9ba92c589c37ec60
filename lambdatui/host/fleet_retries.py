"""Part of `FleetHost` (host/fleet_host.py): a failed Event invoke runs again, as Lambda's asynchronous queue runs
it (core/event_retries.py decides): the same request id and event, a minute after the first attempt and two after
the second by default. Each retry is said (a line and an `EventRetrying` fact), as is an event discarded after its
last attempt; one still waiting when lambdatui ends is named as not run, as any accepted Event invoke is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import trio

from lambdatui.core.event_retries import Discard, RetryPolicy, after_attempt, expired
from lambdatui.host.fleet_events import QueuedEvent
from lambdatui.model import facts as f

if TYPE_CHECKING:
    from lambdatui.host.fleet_host import FleetHost


@dataclass
class Attempts:
    """An accepted Event invoke, from its 202 until its last attempt: what runs again, and how often it has."""

    event: QueuedEvent
    accepted_at: float
    retries: int = 0
    waiting: Optional[trio.CancelScope] = None  # while it waits for its next attempt


class FleetRetries:
    """Part of `FleetHost`: it runs on the fleet's state."""

    def _track_attempts(self: FleetHost, event: QueuedEvent) -> None:
        request_id = str(event.kwargs.get("request_id"))
        self._attempts[request_id] = Attempts(event, trio.current_time())

    def _attempt_ended(self: FleetHost, result: f.InvocationResult) -> None:
        """An invoke's caller was answered: for an Event invoke, its attempt is over (an Event invoke's caller had
        its 202 long ago; this is the answer nobody waits for)."""
        attempts = self._attempts.get(result.request_id)
        if attempts is None or attempts.waiting is not None:
            return
        age = trio.current_time() - attempts.accepted_at
        decision = after_attempt(RetryPolicy.of(self.options), result, attempts.retries, age)
        if decision is None:
            self._forget_attempts(result.request_id)
            return
        why = result.error_type or "a function error"
        if isinstance(decision, Discard):
            self.note(f"Event invoke {result.request_id} failed ({why}) and is discarded: {decision.reason}. Lambda "
                      "would send it to the function's on-failure destination or dead-letter queue, if one is set "
                      "(lambdatui emulates neither).")
            self._forget_attempts(result.request_id)
            return
        if self._ending or self._closed:  # lambdatui is stopping (serve drains its Event invokes): none runs again
            self._forget_attempts(result.request_id)
            self._not_run(attempts.event, f"failed ({why}) and is not run again: lambdatui is shutting down")
            return
        attempts.retries = decision.attempt
        attempts.waiting = trio.CancelScope()
        text = (f"Event invoke {result.request_id} failed ({why}): Lambda runs it again in {decision.wait_s:g} s with "
                f"the same request id (retry {decision.attempt} of {self.options.retry_attempts}, "
                "EventInvokeConfig's MaximumRetryAttempts)")
        self.note(text)
        self._publish_own(f.EventRetrying(result.request_id, decision.attempt, decision.wait_s, text))
        self.start_soon(self._retry_later, attempts, decision.wait_s)

    async def _retry_later(self: FleetHost, attempts: Attempts, wait_s: float) -> None:
        assert attempts.waiting is not None
        with attempts.waiting:
            await trio.sleep(wait_s)
        attempts.waiting = None
        event = attempts.event
        request_id = str(event.kwargs.get("request_id"))
        if self._ending or self._closed:
            self._forget_attempts(request_id)
            self._not_run(event, f"was not run again (retry {attempts.retries}): lambdatui shut down before it")
            return
        # Into the fleet's queue as it came (the queue's bound was met when it was accepted), last, as Lambda's
        # queue takes it back.
        retry = QueuedEvent(event.payload, {**event.kwargs, "retry": attempts.retries}, event.preferred)
        self.retries_run += 1
        self._events.append(retry)
        self._event_bytes += len(retry.payload)
        self._events_arrived.set()
        self._wake()

    def _expired(self: FleetHost, event: QueuedEvent) -> bool:
        """An Event invoke (or its retry) that waited in the fleet's queue past MaximumEventAgeInSeconds: discarded,
        as Lambda discards an event that expires in its queue, and said."""
        request_id = str(event.kwargs.get("request_id"))
        attempts = self._attempts.get(request_id)
        if attempts is None or not expired(RetryPolicy.of(self.options), trio.current_time() - attempts.accepted_at):
            return False
        self._forget_attempts(request_id)
        self._not_run(event, f"was discarded without running: it waited in the queue past MaximumEventAgeInSeconds "
                             f"({self.options.max_event_age_s:g} s, --maximum-event-age)")
        return True

    def _forget_attempts(self: FleetHost, request_id: str) -> None:
        if self._attempts.pop(request_id, None) is not None:
            self._wake()

    def _drop_retries(self: FleetHost) -> None:
        """lambdatui ends: the failed Event invokes still waiting for their next attempt are named as not run."""
        for request_id, attempts in list(self._attempts.items()):
            if attempts.waiting is not None:
                attempts.waiting.cancel()  # its task says so, as it would after its wait
            else:
                self._forget_attempts(request_id)  # running or queued: said where the queue is dropped, if at all

    def retries_pending(self: FleetHost) -> int:
        """Failed Event invokes waiting for their next attempt (the debugger's fleet line)."""
        return sum(1 for attempts in self._attempts.values() if attempts.waiting is not None)
