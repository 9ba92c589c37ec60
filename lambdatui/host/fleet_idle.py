"""Idle environments in the fleet: one that served nothing for the idle time is shut down (SHUTDOWN spindown) and
removed, as Lambda reclaims an environment it has not used for a while (`serve --idle-shutdown`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import trio

from lambdatui.core import fleet_rules as rules
from lambdatui.core import inputs as ins
from lambdatui.model import facts as f

if TYPE_CHECKING:
    from lambdatui.host.fleet_host import FleetHost, _Member


class FleetIdle:
    """Part of `FleetHost` (host/fleet_host.py): it runs on the fleet's state."""

    _suspended_at: Optional[float] = None  # lambdatui stopped (Ctrl-Z) since then

    def suspend(self: FleetHost, suspended: bool) -> None:
        """lambdatui stops (Ctrl-Z) or is back: every environment is held meanwhile (core/clock_rules.py), and, as for
        the debugger's holds, none is any more idle for it (--idle-shutdown would spin them down at `fg`)."""
        now = trio.current_time()
        if suspended:
            self._suspended_at = now if self._suspended_at is None else self._suspended_at
        elif self._suspended_at is not None:
            stopped, self._suspended_at = now - self._suspended_at, None
            for member in self._members:
                if member.held_since is None:  # a held one's release counts the whole hold, the stop in it included
                    member.idle_since += stopped  # inf (being retired) stays so
        for host in self.hosts():
            host.feed(ins.DebuggerSuspended(suspended))

    async def _spin_down_idle(self: FleetHost, idle_s: float) -> None:
        """An environment that served nothing for `idle_s` is shut down (SHUTDOWN spindown) and removed."""
        while True:
            now = trio.current_time()
            for number in rules.idle_expired(self._idle_candidates(), now, idle_s):
                member = next((m for m in self._members if m.number == number), None)
                if member is not None and not self._ending:
                    member.host.note(f"env #{number} has been idle for {idle_s:g} s: it is shut down (SHUTDOWN "
                                     "spindown) and removed")
                    self._publish_own(f.IdleSpunDown(number, idle_s))
                    self._retire(member, idle=True)
            expiry = rules.next_idle_expiry(self._idle_candidates(), idle_s)
            await trio.sleep(max(0.05, idle_s if expiry is None else min(idle_s, expiry - now)))

    def _idle_candidates(self: FleetHost) -> list[rules.Candidate]:
        """The environments that may be idle: not env #1 before its Init has begun when whoever opened the fleet
        starts it ahead of traffic (`first_ahead`), however long its start-up takes (quart's imports, a loaded
        machine). Once begun, it is initialising, then idle from its Init's end (FleetFacts)."""
        first = self.first
        if not (self._first_ahead and first is not None and rules.never_began(first.env)):
            return self._candidates()
        return [c for c in self._candidates() if c.number != first.sandbox_count]

    def _retire(self: FleetHost, member: _Member, idle: bool) -> None:
        """Spin `member` down now (no invoke can be routed to it from here on), and remove it once it is down."""
        member.idle_since = float("inf")  # not twice
        member.host.feed(ins.ShutdownRequested())
        self.start_soon(self._remove, member, idle)

    async def _remove(self: FleetHost, member: _Member, idle: bool) -> None:
        await member.host.shutdown()
        member.scope.cancel()
        await member.done.wait()
        if idle:
            self.spun_down += 1
        self._publish_fleet()
