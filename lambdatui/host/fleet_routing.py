"""Part of `FleetHost` (host/fleet_host.py): which environment takes an invoke, carried out. `core.fleet_rules` decides
from each environment's state and the time; this module gives it the time, waits where the rules say to wait (for
an environment being started), offers the invoke to one finishing its answered invoke, and starts a new environment
when they say so.
It runs on the fleet's state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import trio

from lambdatui.core import fleet_rules as rules
from lambdatui.core.invoke_rules import still_finishing
from lambdatui.host.environment_host import HandedBack
from lambdatui.model import facts as f
from lambdatui.model.fleet import ON_DEMAND

if TYPE_CHECKING:
    from lambdatui.host.fleet_host import FleetHost, _Member

_PLACED = (rules.Choice.NEW, rules.Choice.EXISTING, rules.Choice.AWAIT_FINISH)


class FleetRouting:
    """Part of `FleetHost` (host/fleet_host.py): it runs on the fleet's state."""

    async def _place(self: FleetHost, asynchronous: bool, request_id: str,
                     preferred: Optional[int] = None) -> Optional[tuple[_Member, float]]:
        """The environment that takes invoke `request_id` (a new one started for it if need be), and how long the
        invoke is offered to it if it is finishing its last one (0: it takes it now; `_offer`); None at the limit.
        `preferred` first, when it can take it now."""
        route = await self._route_when_known(asynchronous, preferred)
        if route.choice is rules.Choice.NEW and self.options.snapstart:
            await self._await_snapshot()
            route = await self._route_when_known(asynchronous, preferred)
        # Told once it is placed (or throttled): an Event invoke at the limit is routed again until one takes it.
        if route.passed_over and (asynchronous is False or route.choice in _PLACED):
            self._publish_own(f.PreferredPassedOver(request_id, preferred or 0, route.passed_over))
        if route.past_finishing is not None:
            self._say_past_finishing(request_id, route)
        if route.choice is rules.Choice.NEW:
            # The ones still finishing past the grace are busy too: a replay, whose steps start once the one before
            # has settled, finds them idle (the recorder writes where this invoke went).
            candidates = self._candidates()
            busy = sum(1 for m in self._members
                       if not m.done.is_set() and not m.snapshot and rules.runs_an_invoke(m.host.env))
            busy += sum(1 for c in candidates if rules.overdue(c))
            # Told now, with what the fleet met: the busy ones may have finished by the time the new one has started.
            numbers = self._numbers.reserved(route.number)
            self._publish_own(f.EnvironmentStartedFor(request_id, busy, numbers.first))
            self._starting += 1
            try:
                member: Optional[_Member] = await self._add(ON_DEMAND, numbers)
            except BaseException:
                self._publish_own(f.EnvironmentNotStarted(request_id))
                raise
            finally:
                self._starting -= 1
                self._wake()  # its waiters (`_one_started`) wake whether it joined or failed to start
            assert member is not None
        elif route.choice in (rules.Choice.EXISTING, rules.Choice.AWAIT_FINISH):
            member = next(m for m in self._members if m.number == route.number)
        else:
            return None
        assert member is not None
        if route.cold:
            self.cold_starts += 1
        else:
            self.warm_hits += 1
        member.idle_since = trio.current_time()
        return member, route.wait_s if route.choice is rules.Choice.AWAIT_FINISH else 0.0

    async def _route_when_known(self: FleetHost, asynchronous: bool, preferred: Optional[int]) -> rules.Route:
        """The route, once the rules need nothing more to happen first: an environment being started to join (WAIT).
        One that answered its invoke and is finishing it, within its grace (AWAIT_FINISH), is not waited for here:
        the invoke is offered to it (`_offer`, core/offer_rules.py)."""
        while True:
            route = rules.route(self._candidates(), self.options.concurrency - self._starting, asynchronous,
                                preferred, starting=self._starting, per_environment=self.options.max_concurrency,
                                waiting=self._waiting, next_number=self._numbers.next,
                                skipped=frozenset(self._numbers.skipped))
            if route.choice is not rules.Choice.WAIT:
                return route
            self._waiting += 1
            try:
                await self._one_started()
            finally:
                self._waiting -= 1

    async def _offer(self: FleetHost, member: _Member, offer_s: float, payload: bytes,
                     kwargs: dict[str, object]) -> tuple[f.InvocationResult, Optional[str]]:
        """The invoke given to `member`, or offered to it while it finishes its last one (`offer_s` > 0); raises
        HandedBack when an offer is not taken (its caller routes it again)."""
        if offer_s <= 0:
            return await member.host.invoke(payload, **kwargs)  # type: ignore[arg-type]
        self._awaiting_finish += 1  # not settled while it waits on the finishing environment
        try:
            return await member.host.invoke(payload, offer_s=offer_s, **kwargs)  # type: ignore[arg-type]
        except HandedBack:
            self.warm_hits -= 1  # counted as it was placed; the route it takes now counts it again
            raise
        except BaseException:  # its caller's task cancelled: an offer not taken was dropped, and never ran
            if not member.host.env.has_invoke(str(kwargs.get("request_id"))):
                self.warm_hits -= 1
            raise
        finally:
            self._awaiting_finish -= 1
            self._wake()  # after the facts of its taking: whoever waits for the fleet to settle looks again

    def _say_past_finishing(self: FleetHost, request_id: str, route: rules.Route) -> None:
        """The invoke went past an environment that answered its last invoke but whose runtime or extensions still
        work on it: said, since a caller that expected the warm environment meets a cold start or another one."""
        member = next((m for m in self._members if m.number == route.past_finishing), None)
        if member is None:
            return
        who = still_finishing(member.host.env) or ["its runtime or an extension"]
        where = "a new environment" if route.choice is rules.Choice.NEW else f"env #{route.number}"
        self.note(f"Invoke {request_id} goes to {where}: env #{member.number} answered its last invoke over "
                  f"{rules.FINISHING_GRACE_S * 1000:.0f} ms ago, but {' and '.join(who)} "
                  f"{'has' if len(who) == 1 else 'have'} not asked for the next event yet; Lambda gives an "
                  "environment no invoke until its runtime and every extension have (its Invoke phase lasts until "
                  "then)")

    async def _one_started(self: FleetHost) -> None:
        """Until one of the environments being started has joined the fleet (and taken the invoke it was for)."""
        starting = self._starting
        while self._starting >= starting:
            await self.wait_changed()

    def _candidates(self: FleetHost) -> list[rules.Candidate]:
        now = trio.current_time()
        out = []
        given = self._numbers.next
        for m in self._members:
            if m.done.is_set() or m.snapshot:
                continue
            env = m.host.env
            fit = rules.fit(env)
            out.append(rules.Candidate(m.number, fit, m.provisioned, m.idle_since, rules.starts_cold(env),
                                       rules.finishing_for(env, now) if fit is rules.Fit.FINISHING else None,
                                       rules.unstarted(env, m.number, given)))
        return out
