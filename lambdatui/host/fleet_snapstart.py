"""SnapStart in the fleet (lambda-spec §4.8): env #1 is the snapshot, every other environment is restored from it.

A new environment waits while the snapshot is being made; without a snapshot (it failed, or its process is
gone) no environment can be restored, and an invoke that needs one is refused as Lambda refuses invoking a
version whose publication failed. The snapshot goes last at shutdown: its process is every copy's parent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from lambdatui.core import fleet_rules as rules
from lambdatui.core import inputs as ins
from lambdatui.core.common import error_body
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState

if TYPE_CHECKING:
    from lambdatui.host.fleet_host import FleetHost

_NO_SNAPSHOT = ("SnapStart's snapshot could not be made, or is gone (see env #1's log): no environment can be "
                "restored from it")


class SnapshotUnavailable(Exception):
    """SnapStart: a new environment is needed and there is no snapshot to restore it from."""


def snapshot_failed(request_id: str, why: str) -> f.InvocationResult:
    """Lambda fails the publication of a version whose snapshot cannot be made; invoking it is refused."""
    message = f"The operation cannot be performed at this time: {why}."
    return f.InvocationResult(request_id, error_body("ResourceConflictException", message), "application/json",
                              True, "ResourceConflictException", api_status=409)


class FleetSnapStart:
    """Part of `FleetHost` (host/fleet_host.py): it runs on the fleet's state."""

    async def _shut_down_snapshot(self: FleetHost) -> None:
        """The snapshot goes once every environment restored from it is down (its process is their parent)."""
        while self._starting or any(not m.snapshot and m.host.env.state is not EnvState.SHUT_DOWN
                                    for m in self._members):
            await self.wait_changed()
        for member in self._members:
            if member.snapshot:
                member.host.feed(ins.ShutdownRequested())

    def _snapshot_failed(self: FleetHost) -> Optional[str]:
        """Why no invoke can run at all with SnapStart (the snapshot failed or is gone, and no environment restored
        from it is left), or None."""
        snapshot = next((m.host.env.state for m in self._members if m.snapshot), None)
        return _NO_SNAPSHOT if rules.snapshot_gone(snapshot, self._candidates) else None

    def _refuse_without_snapshot(self: FleetHost, request_id: str, payload: bytes, why: str,
                                 asynchronous: bool = False) -> f.InvocationResult:
        """Invoke `request_id` is refused: there is no snapshot to restore an environment from. Said as facts too, as
        an environment says an invoke it turns away (`InvocationRefused`, then its answer): a recording keeps the
        invoke and its 409, and a replay sees that answer, where only a log line would leave the invoke unseen."""
        self.note(f"{'Event invoke' if asynchronous else 'Invoke'} {request_id}: {why}")
        result = snapshot_failed(request_id, why)
        self._publish_own(f.InvocationRefused(request_id, f"ResourceConflictException: {why}", payload, asynchronous))
        self._publish_own(f.InvocationCompleted(result))
        return result

    async def _await_snapshot(self: FleetHost) -> None:
        """With SnapStart, a new environment is restored from the snapshot: it waits while the snapshot is being
        made, and raises SnapshotUnavailable when there is none to restore from."""
        snapshot = next((m for m in self._members if m.snapshot), None)
        while snapshot is not None and snapshot.host.env.state in (EnvState.COLD, EnvState.INIT):
            await self.wait_changed()
        if snapshot is None or snapshot.host.env.state is not EnvState.SNAPSHOT:
            raise SnapshotUnavailable(_NO_SNAPSHOT)
