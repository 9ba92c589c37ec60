"""Part of `FleetHost` (host/fleet_host.py): the facts of every environment passed on to the fleet's listeners
(with or without the environment's number), the fleet's own lines, and the environments strip and fleet line the
debugger shows. It runs on the fleet's state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import trio

from lambdatui.core import fleet_rules as rules
from lambdatui.host.environment_host import EnvironmentHost, FactListener
from lambdatui.model import facts as f
from lambdatui.model.fleet import (MANAGED_INSTANCES, ON_DEMAND, PROVISIONED, SNAP_START, EnvironmentLine, FleetCounters,
                                   FleetOptions)

if TYPE_CHECKING:
    from collections import deque

    from lambdatui.host.environment_numbers import EnvironmentNumbers
    from lambdatui.host.fleet_events import QueuedEvent
    from lambdatui.host.fleet_retries import Attempts
    from lambdatui.host.fleet_host import _Member

NumberedListener = Callable[[int, f.Fact], None]  # (env #N, fact); N is 0 for the fleet's own lines


class FleetFacts:
    _listeners: tuple[FactListener, ...]
    _numbered: tuple[NumberedListener, ...]
    _members: list[_Member]
    _numbers: EnvironmentNumbers
    _events: deque[QueuedEvent]
    _attempts: dict[str, Attempts]
    _changed: trio.Event
    _waiters: int
    options: FleetOptions
    peak: int
    discarded: Optional[EnvironmentHost]
    cold_starts: int
    warm_hits: int
    throttled: int
    spun_down: int
    fleet_changes: int

    def _candidates(self) -> list[rules.Candidate]:
        raise NotImplementedError  # FleetHost's

    # ------------------------------------------------------------------ facts

    def subscribe(self, listener: FactListener) -> Callable[[], None]:
        """Every environment's facts, as they come (without saying whose)."""
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def subscribe_numbered(self, listener: NumberedListener) -> Callable[[], None]:
        """Every environment's facts with its number; the fleet's own lines and changes with 0."""
        self._numbered = (*self._numbered, listener)

        def unsubscribe() -> None:
            self._numbered = tuple(x for x in self._numbered if x is not listener)

        return unsubscribe

    def _forward(self, member: _Member, fact: f.Fact) -> None:
        # On every fact of every environment (a log burst: every read): kept to the bare calls.
        for listener in self._listeners:
            listener(fact)
        if self._numbered:
            number = member.host.sandbox_count
            for numbered in self._numbered:
                numbered(number, fact)
        kind = type(fact)
        if kind is f.LogLines or kind is f.LogLine:
            if self._waiters:
                self._wake()
            return
        if kind is f.ApiExchanged:
            return  # the debugger's record of the API: it changes nothing anyone waits on
        if kind is f.InvocationCompleted:
            if self._attempts:  # an Event invoke's attempt may be over: it may run again (host/fleet_retries.py)
                self._attempt_ended(fact.result)  # type: ignore[attr-defined]
        elif kind is f.InvocationQueued:  # an environment took an invoke: the busiest moment is now
            self._note_peak()
        elif (kind is f.PhaseEnded and fact.phase != "shutdown") or kind is f.OverrunEnded:  # type: ignore[attr-defined]
            # Idle from the end of its last phase: an Init ahead of an invoke (not its creation), an Invoke once its
            # runtime and extensions have asked for their next event (an extension's work after the caller's answer
            # is the Invoke's), a reset; on Managed Instances, a timed-out handler that ran on.
            member.idle_since = trio.current_time()
        elif kind is f.BoundaryReached and fact.held:  # type: ignore[attr-defined]
            member.held_since = trio.current_time()
        elif kind is f.HoldReleased and member.held_since is not None:
            # Held is the debugger's time, not Lambda's: an environment held at invoke.done is no more idle for it
            # (--idle-shutdown would spin it down as it is continued, and the next invoke would start cold).
            member.idle_since += trio.current_time() - member.held_since
            member.held_since = None
        self._wake()

    def _wake(self) -> None:
        if self._waiters:  # a fresh Event per fact would cost on every log line, waited on or not
            self._changed.set()
            self._changed = trio.Event()

    async def wait_changed(self, since: Optional[int] = None) -> None:
        """Until the next fact from any environment, or a change of the fleet itself; at once if the fleet changed
        after `since` (its `fleet_changes` then): a change made before this waiter came woke nobody."""
        if since is not None and self.fleet_changes != since:
            return
        self._waiters += 1
        try:
            await self._changed.wait()
        finally:
            self._waiters -= 1

    def note(self, text: str) -> None:
        """A line of lambdatui's own about the fleet."""
        self._publish_own(f.LogLine(f.LAMBDATUI, text))

    def not_replaced(self, number: int) -> None:
        """The user asked to replace environment `number`, which has left the fleet: there is nothing to replace."""
        self._publish_own(f.NewEnvironmentAnswered(
            False, "Not replaced: it has been shut down and left the fleet, so there is nothing to replace. "
                   "The next invoke starts a new environment, cold, with an empty /tmp.", number))

    def _publish_own(self, fact: f.Fact) -> None:
        """A fact of the fleet's own (environment 0)."""
        for listener in self._listeners:
            listener(fact)
        for numbered in self._numbered:
            numbered(0, fact)

    def _publish_fleet(self) -> None:
        self.fleet_changes += 1
        self._note_peak()
        self._wake()

    def _note_peak(self) -> None:
        # SnapStart's snapshot serves no invoke: it is no concurrency, busy as its state looks to routing.
        busy = sum(1 for m in self._members
                   if not m.done.is_set() and not m.snapshot and rules.fit(m.host.env) is rules.Fit.BUSY)
        if busy > self.peak:
            self.peak = busy

    # ------------------------------------------------------------------ what the debugger shows

    def _unstarted(self, member: _Member) -> bool:
        """No environment yet (core.fleet_rules.unstarted): not listed, nor counted alive."""
        return rules.unstarted(member.host.env, member.number, self._numbers.next)

    def unstarted_numbers(self) -> frozenset[int]:
        """The environments of the fleet that are none yet (`_unstarted`): what they say, a shutdown that finds
        nothing to end, is about no environment listed."""
        return frozenset(m.number for m in self._members if self._unstarted(m))

    def lines(self) -> tuple[EnvironmentLine, ...]:
        out = []
        for m in self._members:
            if self._unstarted(m):
                continue
            env = m.host.env
            run = env.current
            out.append(EnvironmentLine(
                m.number, env.state, env.hold.boundary if env.hold is not None else None, env.invocations_done,
                SNAP_START if m.snapshot or m.host.restored_from is not None else PROVISIONED if m.provisioned
                else MANAGED_INSTANCES if self.options.max_concurrency else ON_DEMAND,
                rules.runs_an_invoke(env) and not m.snapshot,
                run.invocation.request_id if run is not None else None, m.host.restored_from))
        discarded = self.discarded
        if discarded is not None and all(line.number != discarded.sandbox_count for line in out):
            env = discarded.env  # a failed restore: listed to be looked at, busy with nothing
            out.append(EnvironmentLine(discarded.sandbox_count, env.state, None, env.invocations_done, SNAP_START,
                                       False, None, discarded.restored_from))
        return tuple(sorted(out, key=lambda line: line.number))

    def counters(self) -> FleetCounters:
        candidates = self._candidates()
        busy = sum(1 for c in candidates if c.fit is rules.Fit.BUSY)
        alive = sum(1 for c in candidates if not c.unstarted)
        return FleetCounters(self.options.concurrency, alive, busy, max(self.peak, busy), self.cold_starts,
                             self.warm_hits, self.throttled, len(self._events), self.spun_down,
                             self.retries_pending())  # type: ignore[attr-defined]
