"""Part of `Recorder` (record.py): what it reads of the fleet it is attached to, to tell how an invoke met it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from lambdatui.model.boundaries import EnvState
from lambdatui.model.fleet import SNAP_START, EnvironmentLine

if TYPE_CHECKING:
    from lambdatui.host.fleet_host import FleetHost

# The environment of an invoke the fleet routed to a new one, until it has started (0 is `invoke`'s, unnumbered).
STARTING = -1


class FleetReading:
    """Part of `Recorder` (record.py): it reads the recorder's state."""

    _fleet: Optional[FleetHost]
    _in_flight: dict[str, int]
    _started_for: dict[int, int]

    def _busy_elsewhere(self, number: int) -> bool:
        """Another environment still ran an invoke not yet answered when this one arrived: the fleet this invoke met
        is one a replay, which starts a step once the one before has settled, will not meet. (One that has answered
        and is finishing takes the next invoke as an idle one would, so it counts as idle here.)"""
        if self._fleet is None:
            return False
        # SnapStart's snapshot takes no invoke: whatever its line says, no invoke of the session runs there.
        return any(line.busy and line.number != number and not is_snapshot(line) for line in self._fleet.lines())

    def _alive(self, routed_by: int) -> Optional[int]:
        """The environments alive, but for those started for an invoke routed after the `routed_by`-th."""
        if self._fleet is None:
            return None
        return sum(1 for line in self._fleet.lines() if line.state is not EnvState.SHUT_DOWN
                   and self._started_for.get(line.number, routed_by) <= routed_by)

    def _several(self) -> bool:
        """More than one environment that takes invokes is alive or being started (SnapStart's snapshot takes none)."""
        if self._fleet is None:
            return False
        serving = sum(1 for line in self._fleet.lines() if line.state is not EnvState.SHUT_DOWN and not is_snapshot(line))
        return serving + sum(1 for env in self._in_flight.values() if env == STARTING) > 1


def is_snapshot(line: EnvironmentLine) -> bool:
    """SnapStart's snapshot: it takes no invoke, whatever its line says."""
    return line.init_type == SNAP_START and line.restored_from is None
