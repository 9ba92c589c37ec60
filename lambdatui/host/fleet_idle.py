"""Idle environments in the fleet: one that served nothing for the idle time is shut down (SHUTDOWN spindown) and
removed, as Lambda reclaims an environment it has not used for a while (`serve --idle-shutdown`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from lambdatui.core import fleet_rules as rules
from lambdatui.core import inputs as ins
from lambdatui.model import facts as f

if TYPE_CHECKING:
    from lambdatui.host.fleet_host import FleetHost, _Member


class FleetIdle:
    """Part of `FleetHost` (host/fleet_host.py): it runs on the fleet's state."""

    async def _spin_down_idle(self: FleetHost, idle_s: float) -> None:
        """An environment that served nothing for `idle_s` is shut down (SHUTDOWN spindown) and removed."""
        while True:
            now = trio.current_time()
            for number in rules.idle_expired(self._candidates(), now, idle_s):
                member = next((m for m in self._members if m.number == number), None)
                if member is not None and not self._ending:
                    member.host.note(f"env #{number} has been idle for {idle_s:g} s: it is shut down (SHUTDOWN "
                                     "spindown) and removed")
                    self._publish_own(f.IdleSpunDown(number, idle_s))
                    self._retire(member, idle=True)
            expiry = rules.next_idle_expiry(self._candidates(), idle_s)
            await trio.sleep(max(0.05, idle_s if expiry is None else min(idle_s, expiry - now)))

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
