"""The fleet's queue of Event invokes (lambda-spec §11.1): accepted with 202, run in the order they came as soon as
an environment can take one, never lost. At the concurrency limit they wait; each is said to wait once (a fact), and
each one that never runs (lambdatui ends, or SnapStart has no snapshot to restore from) is named in a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import trio

from lambdatui.core.invoke_rules import SHUTTING_DOWN_REFUSAL, queue_full_refusal
from lambdatui.host.environment_host import EventRefused, HandedBack
from lambdatui.host.fleet_snapstart import SnapshotUnavailable
from lambdatui.model import facts as f

if TYPE_CHECKING:
    from lambdatui.host.fleet_host import FleetHost


class EnvironmentUnavailable(Exception):
    """No new environment could be started: lambdatui itself ran out of descriptors or processes (EMFILE, EAGAIN)."""


def os_error_in(exc: BaseException) -> Optional[OSError]:
    """The OSError in `exc`, or in the nurseries' exception groups around it."""
    if isinstance(exc, OSError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = os_error_in(inner)
        if found is not None:
            return found
    return None


@dataclass
class QueuedEvent:
    """An Event invoke waiting in the fleet's queue for an environment: its payload and its invoke's arguments."""

    payload: bytes
    kwargs: dict[str, object]
    preferred: Optional[int] = None  # a replay's hint (FleetHost.invoke)
    waiting: bool = False  # said to wait for an environment (the debugger's fleet line counts it from then)


class FleetEvents:
    """Part of `FleetHost` (host/fleet_host.py): it runs on the fleet's state."""

    def _accept_event(self: FleetHost, payload: bytes, request_id: str, kwargs: dict[str, object],
                      preferred: Optional[int] = None) -> None:
        refusal = SHUTTING_DOWN_REFUSAL if self._ending else \
            queue_full_refusal(len(self._events), self._event_bytes, len(payload))
        if refusal is not None:
            if not self._ending and not self._said_queue_full:  # once while it stays full: a flood is one line
                self._said_queue_full = True
                self.note(f"Event invoke {request_id} refused ({refusal.status} {refusal.error_type}, "
                          f"{refusal.reason}): {refusal.message} Later ones are refused too, without a line, until "
                          "it has room.")
            raise EventRefused(refusal, request_id)
        self._said_queue_full = False
        event = QueuedEvent(payload, {**kwargs, "request_id": request_id}, preferred)
        self._events.append(event)
        self._event_bytes += len(payload)
        self._track_attempts(event)
        self._events_arrived.set()
        self._wake()

    async def _dispatch_events(self: FleetHost) -> None:
        """Event invokes wait here until an environment can take one, in the order they came; never lost."""
        while True:
            while self._events and not self._ending:
                event = self._events[0]
                if self._expired(event):  # older than MaximumEventAgeInSeconds while it waited: never run
                    self._events.popleft()
                    self._event_bytes -= len(event.payload)
                    continue
                try:
                    placed = await self._place(True, str(event.kwargs.get("request_id")), event.preferred)
                except SnapshotUnavailable as unavailable:
                    self._drop_queued_events(f"was not run: {unavailable}")
                    break
                except EnvironmentUnavailable as unavailable:
                    # It waits, as at the limit, and is tried again once something changes (an environment that
                    # ends gives its descriptors back): said once, never lost.
                    if not event.waiting:
                        self.note(f"Event invoke {event.kwargs.get('request_id')} waits: {unavailable}")
                    self._say_waiting()
                    break
                if placed is None:
                    self._say_waiting()
                    break
                if not self._events or self._events[0] is not event:
                    continue  # dropped while its environment started (lambdatui is ending): said as it was dropped
                self._events.popleft()
                self._event_bytes -= len(event.payload)
                try:
                    await self._offer(*placed, event.payload, {**event.kwargs, "asynchronous": True})
                except HandedBack:  # offered to an environment finishing its last invoke, which did not take it
                    if self._ending:
                        self._not_run(event, "was not run: lambdatui shut down while it was queued")
                    else:  # first again, routed again
                        self._events.appendleft(event)
                        self._event_bytes += len(event.payload)
                except EventRefused as refused:  # the environment began to end under it: said, never silent
                    self._not_run(event, f"was not run: {refused.refusal.message}")
            if self._events and not self._ending:
                await self.wait_changed()  # until an environment may be free
            else:
                # Not on every fact: with no event waiting, a log burst must not wake this task (nor make a
                # trio.Event per line for it).
                self._events_arrived = trio.Event()
                await self._events_arrived.wait()

    def _say_waiting(self: FleetHost) -> None:
        """Each Event invoke that has to wait in the fleet's queue is told once, as it starts to wait: a fact, so
        that the debugger's fleet line shows it queued then, not at the next fact of some environment (no log line:
        a thousand queued events would be a thousand)."""
        for event in self._events:
            if not event.waiting:
                event.waiting = True
                self._publish_own(f.EventWaiting())

    async def drain_events(self: FleetHost, grace_s: float) -> None:
        """Before a shutdown: the Event invokes accepted run first, for `grace_s` at most; invokes that arrive
        meanwhile are refused (500 ServiceException), as they would be once the shutdown begins."""
        self._closed = True
        with trio.move_on_after(grace_s):
            while self._events:
                await self.wait_changed()
            async with trio.open_nursery() as nursery:
                for member in list(self._members):
                    nursery.start_soon(member.host.drain_events, grace_s)

    def _drop_queued_events(self: FleetHost, why: str = "was not run: lambdatui shut down while it was queued") -> None:
        while self._events:  # accepted with 202 and never run: said by request id, never silent
            event = self._events.popleft()
            self._event_bytes -= len(event.payload)
            self._not_run(event, why)

    def _not_run(self: FleetHost, event: QueuedEvent, why: str) -> None:
        request_id = str(event.kwargs.get("request_id"))
        text = f"Event invoke {request_id} {why}"
        self.note(text)
        self._publish_own(f.EventNotRun(request_id, text, event.payload))

    def events_pending(self: FleetHost) -> bool:
        return bool(self._events) or any(m.host.env.events_pending() for m in self._members)
