"""How the fleet stops: all of it (lambdatui ends, or the controller's Shutdown), or one environment (`s`, a
scenario's `shutdown`); and what an invoke that arrives meanwhile is answered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import trio

from lambdatui.core import inputs as ins
from lambdatui.core.common import JSON, error_body
from lambdatui.core.fault_rules import SNAPSHOT_KEPT
from lambdatui.core.invoke_rules import STOPPING_REFUSAL
from lambdatui.host.environment_host import EventRefused
from lambdatui.model import facts as f

if TYPE_CHECKING:
    from lambdatui.host.fleet_host import FleetHost

STARTING_WAIT_S = 10.0  # a shutdown waits that long at most for environments being started to join the fleet


class FleetStopping:
    """Part of `FleetHost` (host/fleet_host.py): it runs on the fleet's state."""

    async def shutdown(self: FleetHost) -> None:
        """Spin every environment down as Lambda does, at once, and wait until each is done; SnapStart's snapshot
        last, as its process is the parent of every restored runtime."""
        self._ending = True
        self._drop_queued_events()
        self._drop_retries()
        # An environment being started for an invoke joins the fleet first (its invoke is then answered as the
        # stopping fleet answers), then goes with the rest: skipped, it would run on past the shutdown.
        with trio.move_on_after(STARTING_WAIT_S):
            while self._starting:
                await self.wait_changed()
        async with trio.open_nursery() as nursery:
            for member in list(self._members):
                if not member.snapshot:
                    nursery.start_soon(member.host.shutdown)
        for member in list(self._members):
            if member.snapshot:
                await member.host.shutdown()

    def request_shutdown(self: FleetHost) -> None:
        """Every environment spins down now (the controller's Shutdown); invokes are refused from then on."""
        self._ending = True
        self._drop_queued_events()
        self._drop_retries()
        for member in self._members:
            if not member.snapshot:
                member.host.feed(ins.ShutdownRequested())
        if any(m.snapshot for m in self._members):
            self.start_soon(self._shut_down_snapshot)

    def kill_now(self: FleetHost) -> None:
        """Every environment's processes SIGKILLed now (the run's exit then reaps them and removes the rest)."""
        for member in self._members:
            member.host.kill_now()

    def remove(self: FleetHost, number: Optional[int]) -> None:
        """Environment `number` spins down and leaves the fleet; the next invoke goes to another, or a new one."""
        member = next((m for m in self._members if m.number == number and not self._unstarted(m)), None)
        if member is None:  # one never started is no environment yet: an invoke that names it still starts it
            self.note(f"No environment #{number}: nothing to shut down.")
            return
        if member.snapshot:  # as a crash or a new environment of it is refused (core/fault_rules.py)
            member.host.note(f"Not shut down: {SNAPSHOT_KEPT}")
            return
        member.host.note(f"env #{number} is shut down (SHUTDOWN spindown) and leaves the fleet")
        self._retire(member, idle=False)

    async def _answer_stopping(self: FleetHost, payload: bytes, request_id: str, asynchronous: bool,
                               kwargs: dict[str, object]) -> tuple[f.InvocationResult, Optional[str]]:
        """An invoke that arrives once lambdatui is stopping: refused while the Event invokes drain (500); once shut
        down, the environment answers as Lambda's would (refused, Sandbox.Failure). Nothing starts for it."""
        if (self._closed and not self._ending) or self.first is None:
            self.note(f"{'Event invoke' if asynchronous else 'Invoke'} {request_id} refused: {STOPPING_REFUSAL.message}")
            if asynchronous:
                raise EventRefused(STOPPING_REFUSAL, request_id)
            body = error_body(STOPPING_REFUSAL.error_type, STOPPING_REFUSAL.message)
            return f.InvocationResult(request_id, body, JSON, True, STOPPING_REFUSAL.error_type,
                                      api_status=STOPPING_REFUSAL.status), None
        return await self.first.invoke(payload, request_id=request_id, asynchronous=asynchronous,
                                       **kwargs)  # type: ignore[arg-type]
